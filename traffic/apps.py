from django.apps import AppConfig


class TrafficConfig(AppConfig):
    name = "traffic"
    verbose_name = "API traffic"

    def ready(self) -> None:
        from .metrics import connect_celery_signals

        connect_celery_signals()
