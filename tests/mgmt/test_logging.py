import pytest
from loguru import logger

pytestmark = pytest.mark.urls("tests.mgmt.urls")


@pytest.fixture
def log_lines():
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m), format="{extra[request_id]} {name} {message}", level="DEBUG")
    yield lines
    logger.remove(sink)


def test_request_id_is_echoed_and_logged(api_client, log_lines):
    response = api_client.get("/api/test/notfound", HTTP_X_REQUEST_ID="req-abcdef12")
    assert response["X-Request-ID"] == "req-abcdef12"
    # Django's own "Not Found" warning went through standard logging into loguru.
    assert any(line.startswith("req-abcdef12 django.") and "Not Found" in line for line in log_lines), (
        log_lines
    )


def test_malformed_request_id_is_replaced(api_client):
    response = api_client.get("/api/test/ok", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


def test_each_request_gets_its_own_id(api_client):
    first = api_client.get("/api/test/ok")["X-Request-ID"]
    second = api_client.get("/api/test/ok")["X-Request-ID"]
    assert first != second
