from maintenance.idle import workspaces_stop_idle

from ._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = "Stop workspaces without requests or CPU use for WORKSPACE_IDLE_STOP_MINUTES."
    job = staticmethod(workspaces_stop_idle)
