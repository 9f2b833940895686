from maintenance.services import cleanup_audit_logs

from ._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = "Delete audit rows older than AUDIT_RETENTION_DAYS (the purge itself is audited)."
    job = staticmethod(cleanup_audit_logs)
