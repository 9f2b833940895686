from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "containers"
    verbose_name = "Workspaces"

    def ready(self) -> None:
        from accounts.services import register_user_teardown
        from servers.selectors import register_server_dependents

        from .selectors import workspaces_on_server
        from .services import workspace_user_delete

        # Deleting a person removes their workspace first (accounts does not import us).
        register_user_teardown(workspace_user_delete)

        # A server with live workspaces cannot be deleted (409 from the servers app).
        register_server_dependents("workspaces", workspaces_on_server)

        # A workspace's live progress (events/) is for whoever may see the workspace.
        from events.selectors import register_job_kind

        from .selectors import workspace_visible

        register_job_kind("workspace", lambda user, pk: workspace_visible(user=user, pk=pk))

        # A port a deleted route pointed at stays held while nginx may still have it cached.
        from django.db.models.signals import post_delete

        from .models import Route
        from .nginx import route_deleted

        post_delete.connect(route_deleted, sender=Route, dispatch_uid="containers.route_deleted")
