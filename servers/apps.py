from django.apps import AppConfig


class ServersConfig(AppConfig):
    name = "servers"
    verbose_name = "Docker hosts"

    def ready(self) -> None:
        from .metrics import connect_celery_signals

        connect_celery_signals()
