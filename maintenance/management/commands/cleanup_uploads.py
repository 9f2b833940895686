from maintenance.services import cleanup_uploads

from ._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = "Delete uploads unfinished for UPLOAD_ABANDONED_HOURS and their partial files."
    job = staticmethod(cleanup_uploads)
