from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "containers"
    verbose_name = "Workspaces"

    def ready(self) -> None:
        from servers.selectors import register_server_dependents

        from .selectors import workspaces_on_server

        # A server with live workspaces cannot be deleted (409 from the servers app).
        register_server_dependents("workspaces", workspaces_on_server)
