from maintenance.services import cleanup_sessions

from ._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = "Delete login sessions that expired or were revoked more than SESSION_RETENTION_DAYS ago."
    job = staticmethod(cleanup_sessions)
