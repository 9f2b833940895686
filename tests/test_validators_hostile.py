"""Every validator of names, hosts, images, labels and paths refuses hostile look-alikes.

Each validator gets a valid sample (which must pass: the refusals below are then about the
hostile part) and the sample with a trailing newline or carriage return, a NUL, a surrounding
space, or one letter swapped for a non-ASCII one that case-folds onto ASCII (long s U+017F,
dotless i U+0131, dotted capital I U+0130, Kelvin sign U+212A); the bare look-alikes too.
`$` with match() lets a trailing newline through; IGNORECASE without re.ASCII lets the
look-alikes match [a-z].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.validators import username_validate
from agent.hostagent import images as agent_images
from agent.hostagent.config import AgentConfig
from agent.hostagent.containers import container_get
from agent.hostagent.errors import BadRequest
from agent.hostagent.errors import NotFound as AgentNotFound
from agent.hostagent.folders import folder_path
from agent.hostagent.policy import container_name, validate_spec
from builds.models import Project
from builds.services.uploads import validate_upload_filename
from containers import edge, nginx
from mgmt.exceptions import ValidationFailed
from registry.clients import validate_registry_url, validate_repository, validate_tag
from registry.models import validate_image_ref
from servers.services import hosts as server_services

LOOK_ALIKES = ("\u017f", "\u0131", "\u0130", "\u212a")  # long s, dotless i, dotted I, Kelvin sign


def hostile_variants(valid: str) -> list[str]:
    variants = [f"{valid}\n", f"{valid}\r", f"{valid}\x00", f" {valid}", f"{valid} ", "x\n", "x\r", "x\x00"]
    for letter in LOOK_ALIKES:
        variants += [letter, letter + valid[1:], valid[:-1] + letter]
    return variants


@dataclass(frozen=True)
class Case:
    name: str
    valid: str
    refuses: Callable[[str], bool]  # True when the value is refused the validator's own way
    extra: tuple[str, ...] = ()
    check_valid: bool = True


def raises(call: Callable[[str], object], *errors: type[BaseException]) -> Callable[[str], bool]:
    def refuses(value: str) -> bool:
        try:
            call(value)
        except errors:
            return True
        return False

    return refuses


AGENT = AgentConfig(secret="s" * 32, workspace_root="/nonexistent-root", label_prefix="hv")


def _spec(**fields: object) -> object:
    request = {"name": "ws-alice", "image": "registry:5000/team/ide:1.0", **fields}
    return validate_spec(AGENT, request, host_cpus=4, host_memory=8 * 2**30, host_gpus=0)


def _workspace_host(username: str) -> str:
    return f"{username}--vscode.{settings.WORKSPACE_DOMAIN}"


CASES = [
    Case("accounts.username_validate", "alice", raises(username_validate, ValidationFailed)),
    Case(
        "servers.validate_server_name",
        "host-1",
        raises(server_services.validate_server_name, ValidationFailed),
    ),
    Case(
        "servers.validate_address (name)",
        "docker1.example.com",
        raises(server_services.validate_address, ValidationFailed),
        extra=("\u212aube.example.com", "\u017ferver", "fe80::1%eth0", "::1%\u017f"),
    ),
    Case(
        "servers.validate_address (IP)",
        "192.0.2.10",
        raises(server_services.validate_address, ValidationFailed),
    ),
    Case(
        "servers.validate_labels (key)",
        "zone",
        raises(lambda key: server_services.validate_labels({key: "a"}), ValidationFailed),
    ),
    Case(
        "servers.validate_fingerprint",
        "SHA256:" + "A" * 43,
        raises(server_services.validate_fingerprint, ValidationFailed),
    ),
    Case("servers.validate_ssh_user", "deploy", raises(server_services.validate_ssh_user, ValidationFailed)),
    Case("registry.validate_repository", "team/ide", raises(validate_repository, ValidationFailed)),
    Case("registry.validate_tag", "v1.0", raises(validate_tag, ValidationFailed)),
    Case(
        "registry.validate_image_ref",
        "registry:5000/team/ide:1.0",
        raises(validate_image_ref, ValidationError),
    ),
    Case(
        "registry.validate_registry_url",
        "https://registry.example.com",
        raises(lambda url: validate_registry_url(url, allow_local=True), ValidationFailed),
        extra=(
            "https://\u017f.example.com",
            "https://registry.example.com\t",
            "https://\nregistry.example.com",
        ),
    ),
    Case(
        "builds.Project.name",
        "vision",
        raises(lambda name: Project._meta.get_field("name").run_validators(name), ValidationError),
    ),
    Case("builds.validate_upload_filename", "disk.qcow2", raises(validate_upload_filename, ValidationFailed)),
    Case("agent.folders.folder_path", "alice", raises(lambda name: folder_path(AGENT, name), BadRequest)),
    Case(
        "containers.nginx.validate_route_name", "alice", raises(nginx.validate_route_name, ValidationFailed)
    ),
    Case(
        "containers.nginx.Upstream (name)",
        "ws-host.internal",
        raises(lambda host: nginx.Upstream(host=host, port=8080), ValidationFailed),
    ),
    Case(
        "containers.nginx.Upstream (IP)",
        "10.0.0.5",
        raises(lambda host: nginx.Upstream(host=host, port=8080), ValidationFailed),
    ),
    Case(
        "containers.edge.host_parse",
        _workspace_host("alice"),
        lambda host: edge.host_parse(host) is None,
        extra=tuple(_workspace_host(letter + "lice") for letter in LOOK_ALIKES),
    ),
    Case("agent.container_name", "ws-alice", raises(lambda name: container_name(AGENT, name), BadRequest)),
    Case(
        "agent.validate_spec (image)",
        "registry:5000/team/ide:1.0",
        raises(lambda v: _spec(image=v), BadRequest),
    ),
    Case("agent.validate_spec (env key)", "HOME_DIR", raises(lambda v: _spec(env={v: "1"}), BadRequest)),
    Case("agent.validate_spec (label key)", "team", raises(lambda v: _spec(labels={v: "1"}), BadRequest)),
    Case("agent.validate_spec (port key)", "8080", raises(lambda v: _spec(ports={v: 20001}), BadRequest)),
    Case(
        "agent.images.validate_reference", "team/ide:1.0", raises(agent_images.validate_reference, BadRequest)
    ),
    Case(
        "agent.images (image id)",
        "sha256:" + "a" * 64,
        raises(agent_images._validate_ident, AgentNotFound),
    ),
    Case(
        "agent.containers.container_get",
        "ws-alice",
        raises(lambda ident: container_get(config=AGENT, ident=ident), AgentNotFound),
        check_valid=False,  # a valid name goes on to Docker
    ),
]

# containers/edge.py is outside this change: host_parse lower-cases before it matches, and the
# Kelvin sign lower-cases to an ASCII "k". Reported; strict, so the fix will be noticed.
KNOWN: dict[tuple[str, str], str] = {}  # (validator, value) → why it still passes: none left


def _params() -> list:
    params = []
    for case in CASES:
        for value in dict.fromkeys([*hostile_variants(case.valid), *case.extra]):
            marks = []
            if (case.name, value) in KNOWN:
                marks = [pytest.mark.xfail(reason=KNOWN[(case.name, value)], strict=True)]
            params.append(pytest.param(case, value, id=f"{case.name}-{value!r}", marks=marks))
    return params


# (Cases whose valid sample would reach Docker are left out: refusing hostile input is theirs.)
@pytest.mark.parametrize("case", [case for case in CASES if case.check_valid], ids=lambda case: case.name)
def test_the_valid_sample_passes(case: Case):
    assert not case.refuses(case.valid), f"{case.name} refuses its valid sample {case.valid!r}"


@pytest.mark.parametrize(("case", "value"), _params())
def test_hostile_input_is_refused(case: Case, value: str):
    assert case.refuses(value), f"{case.name} accepted {value!r}"
