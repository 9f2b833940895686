"""The OpenAPI schema tells the truth: schemathesis runs every operation against the real app.

The schema is loaded from `/api/schema/` of the WSGI application itself, and
every operation is exercised with schema-valid and schema-invalid requests
(examples, coverage and fuzzing phases) and every check schemathesis has
(`st run --checks all`): status codes, content types, response bodies and
headers against the schema, valid data accepted, invalid data rejected, no
server error, authentication not ignored, unsupported methods refused. It runs
as an admin and as a regular user.

Each operation starts from a few real objects (a server, a registry, a project,
a build, an upload, a workspace, a pending sign-up); most generated ids are
turned into theirs, so operations reach their services, not only the 404. The
server and the registry point at a closed port on loopback: operations that
need an agent, a registry or SSH answer their documented 503 (or 409), never a
500. A documented 503 is an answer, so `not_a_server_error` accepts it; a 500
is a bug.

`CONTRACT_MAX_EXAMPLES` (default 10) bounds the fuzzing examples per operation; the cases are the
same every run unless `CONTRACT_RANDOM=1`.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from accounts.roles import owner_permissions_grant
from accounts.services import session_create
from builds.models import Build, BuildSource, GuestUpload, Project, UploadKind
from containers.models import WorkspaceStatus
from registry.models import AllowedImage, Registry
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "10"))
# The same cases every run (make test must not flip); CONTRACT_RANDOM=1 explores new ones.
DETERMINISTIC = os.environ.get("CONTRACT_RANDOM") != "1"
CLOSED_PORT = 9  # discard: nothing listens on loopback, so connections are refused at once

CONFIG = schemathesis.Config.from_dict(
    {
        # No string field takes NUL characters (DRF refuses them everywhere; docs/api.md says so).
        # Text is Unicode: no lone surrogates (which JSON would pair up into other characters).
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "allow-x00": False,
            "codec": "utf-8",
            "deterministic": DETERMINISTIC,
        },
        "checks": {
            "enabled": True,
            # 503 is the documented answer when an agent, registry or SSH host is unreachable.
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
        },
        "operations": [
            {
                # Password rules no schema can state (common passwords, too like the account's
                # names) refuse some schema-valid sign-ups with a 400: tolerated here only.
                "include-operation-id": "auth_register_create",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
                    }
                },
            },
            {
                # The same password rules when an admin sets one (a common password is a 400).
                "include-operation-id": "admin_users_reset_password_create",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
                    }
                },
            },
        ],
    }
)

APP = WSGIHandler()
schema = schemathesis.openapi.from_wsgi("/api/schema/", APP, config=CONFIG)


@dataclass
class World:
    """The objects each operation starts from, and the headers of the persona under test."""

    headers: dict[str, str]
    ids: dict[str, object] = field(default_factory=dict)


# Which seeded object a path's id stands for (the longest matching prefix wins).
_PATH_OBJECTS = {
    "/api/servers/{id}": "server",
    "/api/servers/{server_id}": "server",
    "/api/registries/": "registry",
    "/api/allowed-images/": "allowed_image",
    "/api/projects/": "project",
    "/api/builds/": "build",
    "/api/uploads/": "upload",
    "/api/workspaces/": "workspace",
    "/api/admin/users/{id}/approve": "pending_user",
    "/api/admin/users/{id}/reject": "pending_user",
    "/api/admin/users/": "user",
    "/api/users/": "user",
}


@pytest.fixture
def contract_db(db, settings):
    """Requests go through the WSGI app on this test's connection, inside its transaction."""
    settings.REGISTRY_ALLOW_LOCAL_TARGETS = True  # registry URLs are checked by shape, not by DNS
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _world(persona_kind: str) -> World:
    admin = UserFactory(admin=True)
    regular = UserFactory(username="alice")
    pending = UserFactory(username="penny", pending=True)
    server = ServerFactory(
        name="contract-host",
        agent_port=CLOSED_PORT,
        agent_secret="s" * 32,
        ssh_user="nobody",
        ssh_port=CLOSED_PORT,
    )
    registry = Registry.objects.create(name="contract-registry", url=f"http://127.0.0.1:{CLOSED_PORT}")
    image = AllowedImage.objects.create(name="team/workspace:latest", is_default=True)
    project = Project.objects.create(name="contract-project", created_by=admin)
    upload = GuestUpload.objects.create(
        filename="root.tar", kind=UploadKind.ROOTFS, extension=".tar", size=10, created_by=admin
    )
    build = Build.objects.create(
        repository="team/app",
        reference="team/app:latest",
        source=BuildSource.DOCKERFILE,
        dockerfile="FROM scratch\n",
        server=server,
        requested_by=admin,
    )
    workspace = WorkspaceFactory(
        owner=regular,
        server=server,
        image=image.name,
        status=WorkspaceStatus.ACTIVE,
        container_name="mgmt-alice",
        vscode_port=20000,
        jupyter_port=20001,
    )
    owner_permissions_grant(user=regular, obj=workspace, actions=("view", "operate"))
    persona = admin if persona_kind == "admin" else regular
    _, token = session_create(user=persona)
    return World(
        headers={"Authorization": f"Bearer {token}"},
        ids={
            "server": server.pk,
            "registry": registry.pk,
            "allowed_image": image.pk,
            "project": project.pk,
            "build": build.pk,
            "upload": str(upload.pk),
            "workspace": workspace.pk,
            "pending_user": pending.pk,
            "user": regular.pk,
        },
    )


def _aim_at_seeded_objects(case, world: World) -> None:
    """Most generated ids become a seeded object's; zeros and every third value stay (→ 404)."""
    path = case.operation.path
    prefixes = [p for p in _PATH_OBJECTS if path.startswith(p)]
    if not prefixes or not case.path_parameters:
        return
    target = world.ids[_PATH_OBJECTS[max(prefixes, key=len)]]
    for name, value in case.path_parameters.items():
        if _aims(value, target):
            case.path_parameters[name] = target


def _aims(value: object, target: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return bool(value % 3)
    return isinstance(value, str) and isinstance(target, str) and _is_uuid(value) and value[-1] in "02468ace"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@pytest.fixture
def as_admin(contract_db) -> World:
    return _world("admin")


@pytest.fixture
def as_regular_user(contract_db) -> World:
    return _world("regular")


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=DETERMINISTIC,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@schema.parametrize()
@_settings(MAX_EXAMPLES)
def test_api_matches_its_schema_as_admin(case, as_admin):
    _aim_at_seeded_objects(case, as_admin)
    case.call_and_validate(headers=as_admin.headers)


# A regular user is refused most operations after the same input checks: fewer examples do.
@schema.parametrize()
@_settings(max(1, MAX_EXAMPLES // 2))
def test_api_matches_its_schema_as_regular_user(case, as_regular_user):
    _aim_at_seeded_objects(case, as_regular_user)
    case.call_and_validate(headers=as_regular_user.headers)


def test_every_operation_is_covered():
    """The schema lists every API route; nothing is left out of the run above."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 70
    assert all(op.path.startswith("/api/") for op in operations)
