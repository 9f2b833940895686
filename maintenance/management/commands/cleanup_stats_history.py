from maintenance.services import cleanup_stats_history

from ._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = "Delete server stats history older than SERVER_STATS_RETENTION_DAYS."
    job = staticmethod(cleanup_stats_history)
