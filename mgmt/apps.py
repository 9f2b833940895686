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
