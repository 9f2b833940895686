"""Each app writes only its own tables (issue #16): every INSERT, UPDATE and DELETE the suite runs
in this process is traced to the project module nearest to it, and a test whose code wrote another
app's table fails at teardown, naming the module, the statement and the table.

The writer is the innermost frame in a platform app (the code that built the query); a test's own
setup (frames only under tests/) writes freely. A deletion is judged by what it was asked to delete:
rows that go with it through `on_delete` cascades belong to that decision (Django's `origin`).
Third-party tables (guardian, axes, auth, sessions …) are not checked.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from django.apps import apps
from django.db import connections
from django.db.models.signals import pre_delete

ROOT = Path(__file__).resolve().parent.parent
_WRITE = re.compile(
    r'^\s*(?:INSERT\s+(?:IGNORE\s+)?INTO|UPDATE|DELETE\s+FROM)\s+[`"]?(\w+)[`"]?', re.IGNORECASE | re.ASCII
)


def _project_apps() -> dict[str, str]:
    """db_table → app label, for the platform's own apps (their code lives in this repository)."""
    tables: dict[str, str] = {}
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if ROOT in path.parents and ".venv" not in path.parts:
            for model in config.get_models():
                if not model._meta.proxy:  # a proxy (PendingUser) shares its concrete model's table
                    tables[model._meta.db_table] = config.label
    return tables


# Frames that only pass a request through, never decide a write: middleware wraps every request (so
# Django's own views, e.g. the admin's log-in updating last_login, would look like theirs). And key
# rotation, the one platform-wide write: it rewrites every app's encrypted columns as cipher text,
# by design (mgmt/services.py, docs/deploy.md).
_PASS_THROUGH = (
    "middleware.py",
    "mgmt/logging.py",
    "mgmt/services.py",
    "mgmt/management/commands/reencrypt_fields.py",
    "tests/ownership.py",
)


def _writer(frame: FrameType | None) -> str | None:
    """The app label of the innermost platform frame, or None when only tests, the framework or
    pass-through code wrote."""
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_absolute() and ROOT in path.parents and ".venv" not in path.parts:
            relative = path.relative_to(ROOT)
            if not str(relative).endswith(_PASS_THROUGH):
                return None if relative.parts[0] == "tests" else relative.parts[0]
        frame = frame.f_back
    return None


class _Recorder:
    def __init__(self) -> None:
        self.tables = _project_apps()
        self.owners = set(self.tables.values())
        self.found: list[str] = []

    def check(self, writer: str | None, owner: str | None, what: str) -> None:
        if writer is None or owner is None or writer == owner or writer not in self.owners | {"mgmt"}:
            return
        self.found.append(f"{writer}/ wrote {owner}'s {what}")

    def execute(self, execute, sql, params, many, context):
        match = _WRITE.match(sql) if isinstance(sql, str) else None
        if match is not None and not _in_deletion(sys._getframe(1)):
            table = match[1]
            self.check(_writer(sys._getframe(1)), self.tables.get(table), f"table {table}: {sql[:80]}")
        return execute(sql, params, many, context)

    def deleting(self, sender, instance, origin=None, **kwargs) -> None:
        root = origin if origin is not None else instance
        model = (getattr(root, "model", None) or type(root))._meta.concrete_model
        if model is sender or origin is None:
            owner = self.tables.get(model._meta.db_table)
            self.check(_writer(sys._getframe(1)), owner, f"{model.__name__} rows")


def _in_deletion(frame: FrameType | None) -> bool:
    """Inside Django's Collector: judged by the deletion's origin instead (`deleting`)."""
    while frame is not None:
        if frame.f_code.co_filename.endswith("django/db/models/deletion.py"):
            return True
        frame = frame.f_back
    return False


@pytest.fixture(autouse=True)
def _each_app_writes_only_its_own_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("cross_app_writes"):  # tests of this check itself
        yield
        return
    recorder = _Recorder()
    pre_delete.connect(recorder.deleting, weak=False, dispatch_uid="ownership")
    wrappers = [connection.execute_wrapper(recorder.execute) for connection in connections.all()]
    for wrapper in wrappers:
        wrapper.__enter__()
    try:
        yield
    finally:
        for wrapper in reversed(wrappers):
            wrapper.__exit__(None, None, None)
        pre_delete.disconnect(dispatch_uid="ownership")
    if recorder.found:
        unique = sorted(set(recorder.found))
        pytest.fail("Cross-app writes (call the owning app's service):\n" + "\n".join(unique), pytrace=False)
