"""Image endpoints against the real Docker Engine and a real registry (Debian's docker-registry)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import uuid

import pytest

from tests.agent.conftest import BASE_IMAGE, WORKSPACE_IMAGE

pytestmark = [pytest.mark.docker]


def _events(response) -> list[dict]:
    return [json.loads(line) for line in response.iter_lines() if line]


def _build_small_image(docker_client, tag: str, marker: str = "") -> str:
    dockerfile = f"FROM {BASE_IMAGE}\nRUN echo {marker or tag} > /marker\n"
    image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return image.id


def test_list_shows_images_with_tags_size_and_use(agent, docker_client):
    answer = agent.get("/api/images")
    assert answer.status_code == 200
    images = {tag: image for image in answer.json()["data"] for tag in image["tags"]}
    workspace = images[WORKSPACE_IMAGE]
    assert workspace["id"] == docker_client.images.get(WORKSPACE_IMAGE).id
    assert workspace["size"] > 0
    assert set(workspace) == {"id", "tags", "size", "created", "in_use"}


def test_build_from_dockerfile_text_streams_its_output_as_it_happens(
    agent, unique, created_images, docker_client
):
    tag = f"mgmt-test/agent-build-{unique}:1"
    created_images.append(tag)
    dockerfile = f"FROM {BASE_IMAGE}\nRUN echo first-{unique} && sleep 2 && echo second-{unique}\n"
    started = time.monotonic()
    response = agent.post("/api/images/build", json={"tag": tag, "dockerfile": dockerfile}, stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    arrivals = []
    for line in response.iter_lines():
        if line:
            arrivals.append((time.monotonic() - started, json.loads(line)))
    events = [event for _, event in arrivals]
    assert events[-1]["done"] is True
    assert events[-1]["image_id"] == docker_client.images.get(tag).id
    texts = [event["line"] for event in events if "line" in event]
    assert any(f"first-{unique}" in text for text in texts)
    assert any(f"second-{unique}" in text for text in texts)
    # Streamed: the line printed before the `sleep 2` arrived about two seconds before the next.
    first_at = next(at for at, event in arrivals if event.get("line") == f"first-{unique}")
    second_at = next(at for at, event in arrivals if event.get("line") == f"second-{unique}")
    assert second_at - first_at > 1.5


def test_build_from_an_uploaded_tar_context(agent, unique, created_images, docker_client):
    tag = f"mgmt-test/agent-ctx-{unique}:1"
    created_images.append(tag)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in (
            ("Dockerfile", f"FROM {BASE_IMAGE}\nCOPY greeting.txt /greeting.txt\n"),
            ("greeting.txt", f"hello {unique}\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content.encode()))
    response = agent.post(
        "/api/images/build",
        data={"tag": tag},
        files={"context": ("context.tar.gz", buffer.getvalue(), "application/gzip")},
        stream=True,
    )
    assert response.status_code == 200, response.text
    events = _events(response)
    assert events[-1]["done"] is True, events
    output = docker_client.containers.run(tag, ["cat", "/greeting.txt"], remove=True)
    assert output.decode() == f"hello {unique}\n"


def test_a_failing_build_ends_with_an_error_line(agent, unique, docker_client):
    tag = f"mgmt-test/agent-fail-{unique}:1"
    response = agent.post(
        "/api/images/build",
        json={"tag": tag, "dockerfile": f"FROM {BASE_IMAGE}\nRUN echo failing && exit 3\n"},
        stream=True,
    )
    assert response.status_code == 200
    events = _events(response)
    assert "error" in events[-1]
    assert "returned a non-zero code: 3" in events[-1]["error"]
    assert not docker_client.images.list(name=f"mgmt-test/agent-fail-{unique}")


@pytest.mark.parametrize(
    "body",
    [
        {"dockerfile": "FROM x"},
        {"tag": "Bad Tag", "dockerfile": "FROM x"},
        {"tag": "mgmt-test/x:1"},
        {"tag": "mgmt-test/x:1", "dockerfile": "   "},
    ],
)
def test_bad_build_input_is_400(agent, body):
    answer = agent.post("/api/images/build", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["success"] is False


def test_import_turns_a_root_filesystem_tarball_into_an_image(agent, unique, created_images, docker_client):
    tag = f"mgmt-test/agent-import-{unique}:1"
    created_images.append(tag)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add("/bin/busybox", arcname="bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        archive.addfile(link)
        content = f"guest {unique}\n".encode()
        info = tarfile.TarInfo("etc/guest-release")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
        # Past the 8 MB the agent keeps in memory: the verified body goes through a temp file.
        filler = os.urandom(9 * 1024 * 1024)
        info = tarfile.TarInfo("var/filler")
        info.size = len(filler)
        archive.addfile(info, io.BytesIO(filler))
    change = 'CMD ["/bin/sh"]'
    answer = agent.post(
        f"/api/images/import?tag={tag}&change={change.replace(' ', '%20')}",
        data=buffer.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["tags"] == [tag]
    assert answer.json()["data"]["size"] > 9 * 1024 * 1024
    image = docker_client.images.get(tag)
    assert image.attrs["Config"]["Cmd"] == ["/bin/sh"]
    output = docker_client.containers.run(tag, ["/bin/busybox", "cat", "/etc/guest-release"], remove=True)
    assert output.decode() == f"guest {unique}\n"


def test_a_body_over_the_limit_is_refused_before_it_is_read(agent_factory):
    small = agent_factory(env={"AGENT_MAX_BODY": "1m"})
    answer = small.post("/api/images/import?tag=mgmt-test/big:1", data=b"x" * (1024 * 1024 + 1))
    assert answer.status_code == 413
    assert answer.json()["success"] is False


def test_import_refuses_bad_input(agent, unique):
    assert agent.post("/api/images/import", data=b"x").status_code == 400  # no tag
    bad_change = agent.post(f"/api/images/import?tag=mgmt-test/i-{unique}:1&change=RUN%20rm", data=b"x")
    assert bad_change.status_code == 400
    assert "not an allowed" in bad_change.json()["message"]
    not_a_tar = agent.post(f"/api/images/import?tag=mgmt-test/i-{unique}:1", data=b"not a tarball")
    assert not_a_tar.status_code == 400
    assert "not a valid tar archive" in not_a_tar.json()["message"]


def test_delete_refuses_an_image_in_use_unless_forced(agent, unique, created_images, docker_client):
    tag = f"mgmt-test/agent-del-{unique}:1"
    created_images.append(tag)
    image_id = _build_small_image(docker_client, tag)
    created = agent.post("/api/containers", json={"name": f"del-{unique}", "image": tag})
    assert created.status_code == 201, created.text

    listed = {i["id"]: i for i in agent.get("/api/images").json()["data"]}
    assert listed[image_id]["in_use"] is True

    refused = agent.delete(f"/api/images/{tag}")
    assert refused.status_code == 409
    assert "used by a container" in refused.json()["message"]
    assert docker_client.images.get(tag).id == image_id

    assert agent.post(f"/api/containers/del-{unique}/delete").status_code == 200
    # A stopped container that is not the agent's still counts; forcing removes the image.
    stopped = docker_client.containers.create(tag, name=f"del-stopped-{unique}")
    try:
        assert agent.delete(f"/api/images/{tag}").status_code == 409
        forced = agent.delete(f"/api/images/{tag}?force=1")
        assert forced.status_code == 200, forced.text
        assert forced.json()["data"]["deleted"] == image_id
        assert not docker_client.images.list(name=f"mgmt-test/agent-del-{unique}")
    finally:
        stopped.remove(force=True)
    assert agent.delete(f"/api/images/{tag}").status_code == 404
    assert agent.delete("/api/images/..%2Fetc").status_code == 404


@pytest.mark.registry
def test_push_then_pull_against_a_real_registry(
    agent, unique, created_images, docker_client, registry_factory
):
    registry = registry_factory()
    local = f"mgmt-test/agent-push-{unique}:1"
    remote = f"{registry.address}/team/push-{unique}:1"
    created_images.extend([local, remote])
    image_id = _build_small_image(docker_client, local)
    docker_client.images.get(local).tag(remote)

    pushed = agent.post("/api/images/push", json={"image": remote}, stream=True)
    assert pushed.status_code == 200
    events = _events(pushed)
    assert events[-1]["done"] is True, events
    assert events[-1]["digest"].startswith("sha256:")
    assert any("line" in event for event in events)

    docker_client.images.remove(remote)
    pulled = agent.post("/api/images/pull", json={"image": remote})
    assert pulled.status_code == 200, pulled.text
    assert pulled.json()["data"]["id"] == image_id
    assert remote in pulled.json()["data"]["tags"]

    missing = agent.post("/api/images/pull", json={"image": f"{registry.address}/team/none-{unique}:1"})
    assert missing.status_code == 404
    not_local = agent.post("/api/images/push", json={"image": f"{registry.address}/no/such-{unique}:1"})
    assert not_local.status_code == 404

    # A registry that does not answer is the Docker side's failure (502), not the agent's (503).
    down = agent.post("/api/images/pull", json={"image": f"127.0.0.1:1/team/none-{unique}:1"})
    assert down.status_code == 502
    assert "connection refused" in down.json()["message"]


@pytest.mark.registry
def test_push_and_pull_with_registry_credentials(
    agent, unique, created_images, docker_client, registry_factory
):
    password = f"pw-{uuid.uuid4().hex}"
    registry = registry_factory(username="ci", password=password)
    local = f"mgmt-test/agent-auth-{unique}:1"
    remote = f"{registry.address}/team/auth-{unique}:1"
    created_images.extend([local, remote])
    image_id = _build_small_image(docker_client, local)
    docker_client.images.get(local).tag(remote)
    good = {"url": registry.url, "username": "ci", "password": password}
    bad = {**good, "password": "wrong"}

    refused = _events(agent.post("/api/images/push", json={"image": remote, "registry": bad}, stream=True))
    assert "error" in refused[-1]
    pushed = _events(agent.post("/api/images/push", json={"image": remote, "registry": good}, stream=True))
    assert pushed[-1]["done"] is True, pushed

    docker_client.images.remove(remote)
    denied = agent.post("/api/images/pull", json={"image": remote, "registry": bad})
    assert denied.status_code == 400, denied.text
    assert "the registry refused the credentials" in denied.json()["message"]
    assert password not in denied.text
    pulled = agent.post("/api/images/pull", json={"image": remote, "registry": good})
    assert pulled.status_code == 200, pulled.text
    assert pulled.json()["data"]["id"] == image_id
    assert password not in agent.log()
