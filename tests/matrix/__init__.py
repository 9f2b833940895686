"""The role x endpoint matrix: one table of rows per app, one test over all of them.

Every route under /api/ needs a row for each HTTP method it serves, saying what
each persona gets: `anonymous`, `alice` (a regular user who owns the object the
route points at), `bob` (another regular user), `qvp` and `admin`. A route
without a row fails `test_every_api_route_has_a_row`. To add your app's routes,
create `tests/matrix/<app>.py` with a `ROWS` list; it is discovered on its own.
Each row x persona runs in its own transaction, so state-changing rows are fine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PERSONAS = ("anonymous", "alice", "bob", "qvp", "admin")


@dataclass
class Ctx:
    """The world a row runs in: the personas plus objects that rows may point at."""

    users: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.users[name] if name in self.users else self.extra[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


@dataclass(frozen=True)
class Row:
    name: str  # the URL name, with its namespace ("accounts:user-detail")
    method: str  # GET, POST, PATCH, PUT, DELETE
    expect: dict[str, int]  # persona → status code
    kwargs: Callable[[Ctx], dict[str, Any]] = lambda ctx: {}
    data: Callable[[Ctx], Any] | None = None  # JSON, or bytes sent as application/octet-stream
    query: Callable[[Ctx], dict[str, Any]] | None = None
    headers: Callable[[Ctx], dict[str, str]] | None = None
    # Creates what the route needs (e.g. alice's workspace) and keeps it in ctx.extra.
    setup: Callable[[Ctx], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.name}"


def expect(*, anonymous: int, alice: int, bob: int, qvp: int, admin: int) -> dict[str, int]:
    return {"anonymous": anonymous, "alice": alice, "bob": bob, "qvp": qvp, "admin": admin}


def public(status: int = 200) -> dict[str, int]:
    return dict.fromkeys(PERSONAS, status)


def admin_only(status: int = 200) -> dict[str, int]:
    return expect(anonymous=401, alice=403, bob=403, qvp=403, admin=status)


def operators(status: int = 200) -> dict[str, int]:
    return expect(anonymous=401, alice=403, bob=403, qvp=status, admin=status)


def owner_or_admin(status: int = 200) -> dict[str, int]:
    """An object of alice's: hers and the admin's; everyone else gets 404 (not 403)."""
    return expect(anonymous=401, alice=status, bob=404, qvp=404, admin=status)
