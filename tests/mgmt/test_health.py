import pytest
from django.test import override_settings


def closed_port_redis() -> str:
    return "redis://127.0.0.1:1/0"


@pytest.mark.django_db
def test_healthy_on_the_real_stack(api_client):
    response = api_client.get("/api/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True
    assert body["data"]["database"] == "ok: mysql"
    assert body["data"]["cache"] == "ok: RedisCache"


@pytest.mark.django_db
def test_cache_down_gives_503_naming_it(api_client):
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": closed_port_redis(),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=caches):
        response = api_client.get("/api/health")
    body = response.json()
    assert response.status_code == 503
    assert body["success"] is False
    assert body["message"] == "Unhealthy: cache down."
    assert body["data"]["cache"].startswith("error: unreachable")
    assert body["data"]["database"].startswith("ok")


@pytest.mark.django_db
def test_broker_down_gives_503_naming_it(api_client):
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=closed_port_redis()):
        response = api_client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["message"] == "Unhealthy: broker down."


@pytest.mark.django_db
def test_broker_up_when_not_eager(api_client, settings):
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=settings.REDIS_URL):
        response = api_client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["data"]["broker"] == "ok: reachable"


@pytest.mark.django_db
def test_health_does_not_reveal_credentials(api_client):
    url = "redis://:hunter2@127.0.0.1:1/0"
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=url):
        response = api_client.get("/api/health")
    assert "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_a_missing_worker_or_beat_is_named_from_their_heartbeats(api_client, settings):
    """Issue #15: without a worker, health no longer says all is well."""
    from django.core.cache import cache
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from mgmt.tasks import heartbeat, heartbeat_key

    for queue in ("provisioning", "builds", "default"):
        cache.delete(heartbeat_key(queue))
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=settings.REDIS_URL):
        body = api_client.get("/api/health").json()
        assert (
            body["message"] == "Degraded: beat, worker:provisioning, worker:builds, worker:default missing."
        )
        assert body["data"]["worker:builds"] == "error: no worker has answered a heartbeat on builds"

        every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(
            name="mgmt-heartbeat-default",
            task="mgmt.tasks.heartbeat",
            interval=every,
            last_run_at=timezone.now(),
        )
        heartbeat("default")  # what a worker of the default queue runs
        answer = api_client.get("/api/health")
        body = answer.json()
        assert answer.status_code == 200  # this web node serves; the message says what is missing
        assert body["data"]["beat"].startswith("ok: last heartbeat sent")
        assert body["data"]["worker:default"].startswith("ok: last heartbeat")
        assert body["message"] == "Degraded: worker:provisioning, worker:builds missing."
    assert "beat" not in api_client.get("/api/health").json()["data"]  # eager: nothing to run them
