import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from mgmt.config_validation import ConfigValidationError, validate_config


@pytest.fixture
def good(settings):
    return {
        "MGMT_SERVER_IP": "10.0.0.5",
        "AGENT_PORT": "5005",
        "PLATFORM_URL": "https://mgmt.example.com",
        "WORKSPACE_DOMAIN": "ws.example.com",
        "DATABASES": settings.DATABASES,
    }


def test_a_good_configuration_has_no_problems(good):
    assert validate_config(values=good) == []
    assert validate_config(values=good, strict=True) == []


@pytest.mark.parametrize(
    "name",
    [
        "MGMT_SERVER_IP",
        "AGENT_PORT",
        "PLATFORM_URL",
        "WORKSPACE_DOMAIN",
    ],
)
def test_each_missing_variable_is_named(good, name):
    del good[name]
    assert validate_config(values=good) == [f"{name}: required variable is not set"]


def test_workspace_folders_are_no_platform_setting(settings):
    """Issue #17: the folders are on the Docker hosts, their agents' (AGENT_WORKSPACE_ROOT/TEMPLATE)."""
    assert not hasattr(settings, "WORKDIR_DEPLOY") and not hasattr(settings, "WORKDIR_TEMPLATE")
    assert not any(name.startswith("WORKDIR_") for name in settings.CONFIG_REQUIRED_VARIABLES)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLATFORM_URL", "mgmt.example.com"),
        ("PLATFORM_URL", "ftp://mgmt.example.com"),
        ("PLATFORM_URL", "https://mgmt.example.com/platform"),
        ("WORKSPACE_DOMAIN", "ws.example.com;"),
        ("WORKSPACE_DOMAIN", "WS.example.com\n"),
        ("WORKSPACE_DOMAIN", "*.ws.example.com"),
    ],
)
def test_bad_edge_addresses_are_named(good, name, value):
    good[name] = value
    problems = validate_config(values=good)
    assert len(problems) == 1 and problems[0].startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("http", "is not a port number"), ("70000", "is outside 1-65535"), ("0", "is outside 1-65535")],
)
def test_bad_port_is_named(good, value, expected):
    good["AGENT_PORT"] = value
    [problem] = validate_config(values=good)
    assert problem.startswith("AGENT_PORT:") and expected in problem


@pytest.mark.parametrize("value", ["300.1.1.1", "example.com", "10.0.0"])
def test_bad_ip_is_named(good, value):
    good["MGMT_SERVER_IP"] = value
    assert validate_config(values=good) == [f"MGMT_SERVER_IP: '{value}' is not a valid IP address"]


def test_database_settings_must_be_present(good):
    good["DATABASES"] = {"default": {"ENGINE": "django.db.backends.mysql", "NAME": "x"}}
    assert validate_config(values=good) == ["DATABASE_URL: MySQL needs a host and a user"]


def test_strict_raises_listing_every_problem(good):
    good["AGENT_PORT"] = "-1"
    good["MGMT_SERVER_IP"] = "nope"
    with pytest.raises(ConfigValidationError) as caught:
        validate_config(values=good, strict=True)
    assert len(caught.value.problems) == 2
    assert "AGENT_PORT" in str(caught.value) and "MGMT_SERVER_IP" in str(caught.value)


def test_manage_py_check_reports_the_same_problems_in_production(settings):
    settings.PRODUCTION = True
    settings.AGENT_PORT = "99999"
    settings.MGMT_SERVER_IP = "nope"
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    assert "AGENT_PORT: 99999 is outside 1-65535" in str(caught.value)
    assert "MGMT_SERVER_IP: 'nope' is not a valid IP address" in str(caught.value)
