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
        _broker_client_import()


def _broker_client_import() -> None:
    """Resolve the broker's transport (importing its client library, e.g. redis) now, in the
    thread that starts the process. The first tasks a threaded web worker queues would otherwise
    import it from several threads at once, and Python's import locks may then report a deadlock
    (seen as 500s when 30 approvals reached a fresh worker together)."""
    from mgmt.celery import app

    app.connection_for_write().release()  # building the connection resolves the transport; no I/O
