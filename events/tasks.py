from celery import shared_task

from . import services


@shared_task
def events_purge_task() -> int:
    return services.events_purge()
