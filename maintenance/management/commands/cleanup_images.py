from maintenance.services import cleanup_images

from ._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = "Delete unused images from every server, when the admin's cleanup policy enables it."
    job = staticmethod(cleanup_images)
