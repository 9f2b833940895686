import pytest
from django.test import RequestFactory, override_settings

from mgmt.client_ip import client_ip

rf = RequestFactory()


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "6.6.6.6", "10.0.0.1"),  # no trusted proxy: the header is ignored
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the entry nginx appended
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "", "10.0.0.1"),  # not through the proxy
        (1, "6.6.6.6, not-an-ip", "10.0.0.1"),
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.1"),
    ],
)
def test_client_ip(proxies, forwarded, expected):
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(request) == expected
