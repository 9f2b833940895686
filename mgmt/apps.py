from django.apps import AppConfig


class MgmtConfig(AppConfig):
    name = "mgmt"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.signals import request_finished

        from mgmt import config_validation  # noqa: F401  (registers the system check)
        from mgmt.logging import clear_request_id, configure_logging

        configure_logging(level=settings.LOG_LEVEL, json=settings.LOG_JSON)
        request_finished.connect(clear_request_id, dispatch_uid="mgmt.clear_request_id")
        _celery_ready()


def _celery_ready() -> None:
    """Register every app's tasks and resolve the broker's transport (importing its client
    library, e.g. redis) now, in the thread that starts the process. The first tasks a threaded
    web worker queues would otherwise do both from several threads at once: Python's import locks
    then report a deadlock, or a task is looked up before it is registered (500s when 30
    approvals reached a fresh worker together)."""
    from mgmt.celery import app

    app.autodiscover_tasks(force=True)
    app.connection_for_write().release()  # building the connection resolves the transport; no I/O
