"""The Celery app: configured from Django settings (`CELERY_*`), tasks found per app."""

import os

from celery import Celery
from celery.signals import setup_logging, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgmt.settings")

app = Celery("mgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_loguru(**_: object) -> None:
    """Keep Celery from installing its own handlers: loguru is the one sink."""
    from django.conf import settings

    from mgmt.logging import configure_logging

    configure_logging(level=settings.LOG_LEVEL, json=settings.LOG_JSON)


@worker_process_init.connect
def _validate_on_worker_start(**_: object) -> None:
    from mgmt.config_validation import validate_for_startup

    validate_for_startup()
