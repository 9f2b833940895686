"""Pruning unused images through a real agent on the real dockerd (only images this test made)."""

from __future__ import annotations

import contextlib
import io
import tarfile
import uuid

import pytest

from audit.models import AuditLog
from maintenance import services
from maintenance.models import CleanupPolicy
from servers.clients.agent import AgentClient
from tests.factories import ServerFactory
from tests.services import require_docker

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _image_tags(client: AgentClient) -> set[str]:
    return {tag for image in client.list_images() for tag in image.get("tags") or []}


@pytest.fixture
def host(agent_factory, settings):
    require_docker()
    settings.AGENT_CONNECT_TIMEOUT, settings.AGENT_READ_TIMEOUT = 1.0, 10.0
    settings.IMAGE_PRUNE_MIN_AGE_HOURS = 0
    agent = agent_factory()
    server = ServerFactory(
        name=f"prune-{uuid.uuid4().hex[:6]}", agent_port=agent.port, agent_secret=agent.secret
    )
    repo = f"prune-test-{uuid.uuid4().hex[:10]}"
    client = AgentClient.for_server(server, read_timeout=60)
    unused, allowed = f"{repo}/unused:1", f"{repo}/allowed:1"
    for tag in (unused, allowed):
        client.import_image(rootfs_tar=_rootfs(), tag=tag)
    yield server, client, repo, unused, allowed
    for tag in (unused, allowed):
        with contextlib.suppress(Exception):  # already pruned by the test
            client.delete_image(tag, force=True)


def test_prune_is_off_until_an_admin_enables_it(host):
    server, client, _repo, unused, _ = host
    report = services.cleanup_images(servers=[server])
    assert report.count == 0 and "disabled" in report.note
    assert unused in _image_tags(client)


def test_prune_deletes_only_unused_images_in_the_policy_scope(host, settings):
    from registry.models import AllowedImage

    server, client, repo, unused, allowed = host
    AllowedImage.objects.create(name=allowed)
    CleanupPolicy.objects.update_or_create(
        pk=1, defaults={"prune_unused_images": True, "image_prune_repositories": f"{repo}/"}
    )
    # A server that does not answer is reported and does not stop the job.
    dead = ServerFactory(name=f"dead-{uuid.uuid4().hex[:6]}", agent_port=1)  # nothing answers on port 1

    dry = services.cleanup_images(dry_run=True, servers=[dead, server])
    assert dry.items == [f"{server.name}: {unused}"]
    assert dry.errors and dead.name in dry.errors[0]
    assert unused in _image_tags(client)

    report = services.cleanup_images(servers=[dead, server])
    assert report.count == 1
    tags = _image_tags(client)
    assert unused not in tags and allowed in tags  # the allowed workspace image is kept
    row = AuditLog.objects.get(action_type="image.prune")
    assert unused in row.details["tags"] and row.server_id == str(server.pk)

    # Too young to prune: a pull or build may be about to use it.
    settings.IMAGE_PRUNE_MIN_AGE_HOURS = 24
    AllowedImage.objects.all().delete()
    assert services.cleanup_images(dry_run=True, servers=[server]).count == 0
