"""Start-up validation of the platform's configuration (the original's config_validator).

`validate_config()` returns every problem it finds, each naming the variable;
with `strict=True` it raises `ConfigValidationError` listing them all. The same
problems are reported by `manage.py check` (a Django system check), and
`validate_for_startup()` runs it strictly in the production web process and
workers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from loguru import logger


class ConfigValidationError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration:\n- " + "\n- ".join(problems))


_PORTS = ("AGENT_PORT",)
_DOMAIN_RE = re.compile(
    r"(?=.{1,200}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*", re.ASCII
)
_IPS = ("MGMT_SERVER_IP",)


def current_values() -> dict[str, Any]:
    """The values the running settings hold, for the variables validated here."""
    values: dict[str, Any] = {
        name: getattr(settings, name, None) for name in settings.CONFIG_REQUIRED_VARIABLES
    }
    values["DATABASES"] = settings.DATABASES
    return values


def _check_port(name: str, value: Any) -> str | None:
    try:
        port = int(str(value))
    except ValueError:
        return f"{name}: '{value}' is not a port number"
    if not 1 <= port <= 65535:
        return f"{name}: {port} is outside 1-65535"
    return None


def _check_ip(name: str, value: Any) -> str | None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return f"{name}: '{value}' is not a valid IP address"
    return None


def _check_platform_url(name: str, value: Any) -> str | None:
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return f"{name}: '{value}' must be an http(s) URL with no path, such as https://mgmt.example.com"
    return None


def _check_domain(name: str, value: Any) -> str | None:
    if not _DOMAIN_RE.fullmatch(str(value)):
        return f"{name}: '{value}' is not a DNS name such as ws.example.com"
    return None


def _check_database(databases: Any) -> list[str]:
    default = (databases or {}).get("default") or {}
    engine = default.get("ENGINE", "")
    if not engine or not default.get("NAME"):
        return ["DATABASE_URL: database engine and name must be set"]
    if engine.endswith("mysql") and not (default.get("HOST") and default.get("USER")):
        return ["DATABASE_URL: MySQL needs a host and a user"]
    return []


def validate_config(*, strict: bool = False, values: Mapping[str, Any] | None = None) -> list[str]:
    """Every configuration problem, one line each naming the variable."""
    values = current_values() if values is None else values
    problems: list[str] = []
    present: dict[str, Any] = {}
    for name in settings.CONFIG_REQUIRED_VARIABLES:
        value = values.get(name)
        if value in (None, ""):
            problems.append(f"{name}: required variable is not set")
        else:
            present[name] = value
    for name in _PORTS:
        if name in present and (problem := _check_port(name, present[name])):
            problems.append(problem)
    for name in _IPS:
        if name in present and (problem := _check_ip(name, present[name])):
            problems.append(problem)
    if "PLATFORM_URL" in present and (
        problem := _check_platform_url("PLATFORM_URL", present["PLATFORM_URL"])
    ):
        problems.append(problem)
    if "WORKSPACE_DOMAIN" in present and (
        problem := _check_domain("WORKSPACE_DOMAIN", present["WORKSPACE_DOMAIN"])
    ):
        problems.append(problem)
    problems.extend(_check_database(values.get("DATABASES")))
    if strict and problems:
        raise ConfigValidationError(problems)
    return problems


@checks.register(checks.Tags.compatibility)
def config_check(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """`manage.py check`: errors in production, warnings on a development machine."""
    level = checks.Error if settings.PRODUCTION else checks.Warning
    return [
        level(problem, id="mgmt.E001" if settings.PRODUCTION else "mgmt.W001")
        for problem in validate_config()
    ]


def validate_for_startup() -> None:
    """Refuse to start a production process on a bad configuration; warn elsewhere."""
    if settings.PRODUCTION:
        validate_config(strict=True)
        return
    for problem in validate_config():
        logger.warning("Configuration: {}", problem)
