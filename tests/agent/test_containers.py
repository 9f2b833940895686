"""Container endpoints through the real HTTP stack, against the real Docker Engine."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.agent.conftest import WORKSPACE_IMAGE, remove_image_and_its_containers
from tests.net import get_when_up

pytestmark = pytest.mark.docker


def _create(agent, name, workspace=None, **extra):
    body = {"name": name, "image": WORKSPACE_IMAGE, "ports": [8080, 8888], **extra}
    if workspace is not None:
        body["workspace_folder"] = str(workspace)
    return agent.post("/api/containers", json=body)


def test_create_is_idempotent_and_a_different_request_under_the_name_is_a_conflict(
    agent, workspace, unique, docker_client
):
    first = _create(
        agent, f"ws-{unique}", workspace, labels={"user": "alice"}, env={"WORKSPACE_USER": "alice"}
    )
    assert first.status_code == 201, first.text
    data = first.json()["data"]
    assert data["name"] == f"{agent.label_prefix}-ws-{unique}"
    assert data["status"] == "running"
    assert data["labels"][f"{agent.label_prefix}.user"] == "alice"
    assert data["labels"][f"{agent.label_prefix}.managed"] == "true"

    again = _create(
        agent, f"ws-{unique}", workspace, labels={"user": "alice"}, env={"WORKSPACE_USER": "alice"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == data["id"]

    # The prefixed name is the same container too.
    same = _create(agent, data["name"], workspace, labels={"user": "alice"}, env={"WORKSPACE_USER": "alice"})
    assert same.status_code == 200
    assert same.json()["data"]["id"] == data["id"]

    other = _create(agent, f"ws-{unique}", workspace, labels={"user": "bob"})
    assert other.status_code == 409
    assert "different container" in other.json()["message"]
    assert [c.id for c in docker_client.containers.list(all=True, filters={"name": data["name"]})] == [
        data["id"]
    ]

    # Idempotent create also starts a container that was stopped.
    assert agent.post(f"/api/containers/{data['id']}/stop").json()["data"]["status"] == "exited"
    restarted = _create(
        agent, f"ws-{unique}", workspace, labels={"user": "alice"}, env={"WORKSPACE_USER": "alice"}
    )
    assert restarted.status_code == 200
    assert restarted.json()["data"]["status"] == "running"


def test_published_ports_answer_http_on_the_host(agent, workspace, unique):
    created = _create(agent, f"http-{unique}", workspace, env={"WORKSPACE_USER": "carol"})
    assert created.status_code == 201, created.text
    ports = agent.get(f"/api/containers/http-{unique}/ports").json()["data"]
    assert set(ports) == {"8080/tcp", "8888/tcp"}
    for key, page in (("8080/tcp", "vscode stand-in"), ("8888/tcp", "jupyter stand-in")):
        assert ports[key]["host_ip"] == "127.0.0.1"
        answer = get_when_up(f"http://127.0.0.1:{ports[key]['host_port']}/")
        assert answer.status_code == 200
        assert page in answer.text
        assert "workspace of carol" in answer.text
    assert created.json()["data"]["ports"] == ports


def test_start_stop_restart_delete(agent, workspace, unique, docker_client):
    data = _create(agent, f"life-{unique}", workspace).json()["data"]
    ident = data["id"]

    stopped = agent.post(f"/api/containers/{ident}/stop?timeout=2")
    assert stopped.status_code == 200
    assert stopped.json()["data"]["status"] == "exited"
    assert docker_client.containers.get(ident).status == "exited"

    started = agent.post(f"/api/containers/{ident}/start")
    assert started.json()["data"]["status"] == "running"
    shown = agent.get(f"/api/containers/life-{unique}")
    assert shown.status_code == 200
    assert shown.json()["data"]["id"] == ident
    assert shown.json()["data"]["status"] == "running"

    before = docker_client.containers.get(ident).attrs["State"]["StartedAt"]
    restarted = agent.post(f"/api/containers/life-{unique}/restart?timeout=2")
    assert restarted.status_code == 200
    assert restarted.json()["data"]["status"] == "running"
    assert docker_client.containers.get(ident).attrs["State"]["StartedAt"] != before

    deleted = agent.post(f"/api/containers/{ident}/delete")
    assert deleted.status_code == 200
    assert deleted.json()["data"]["deleted"] == ident
    assert not docker_client.containers.list(all=True, filters={"id": ident})
    assert agent.post(f"/api/containers/{ident}/delete").status_code == 404


def test_list_shows_only_this_agents_managed_containers(agent, workspace, unique, docker_client):
    mine = _create(agent, f"list-{unique}", workspace).json()["data"]
    stranger = docker_client.containers.create(WORKSPACE_IMAGE, name=f"stranger-{unique}")
    try:
        listed = agent.get("/api/containers").json()["data"]
        names = {c["name"] for c in listed}
        assert mine["name"] in names
        assert stranger.name not in names
        assert all(c["labels"][f"{agent.label_prefix}.managed"] == "true" for c in listed)
        entry = next(c for c in listed if c["id"] == mine["id"])
        assert entry["status"] == "running"
        assert entry["ports"] == mine["ports"]

        # An unmanaged container is not visible nor touchable, even by its exact name or id.
        for ident in (stranger.name, stranger.id):
            for action in ("start", "stop", "restart", "delete"):
                assert agent.post(f"/api/containers/{ident}/{action}").status_code == 404
            assert agent.get(f"/api/containers/{ident}/logs").status_code == 404
        assert docker_client.containers.get(stranger.id).status == "created"

        # Its name cannot be taken over by a create either.
        taken = agent.post(
            "/api/containers", json={"name": f"{agent.label_prefix}-x{unique}", "image": WORKSPACE_IMAGE}
        )
        assert taken.status_code == 201
        docker_client.containers.get(taken.json()["data"]["id"]).rename(f"{agent.label_prefix}-y{unique}")
        stranger.rename(f"{agent.label_prefix}-x{unique}")
        clash = agent.post(
            "/api/containers", json={"name": f"{agent.label_prefix}-x{unique}", "image": WORKSPACE_IMAGE}
        )
        assert clash.status_code == 409
    finally:
        stranger.remove(force=True)


def _shell_image(docker_client, name: str, script: str) -> Iterator[str]:
    """A small image of the stand-in base that runs `script` with sh; removed afterwards."""
    tag = f"mgmt-test/{name}-{uuid.uuid4().hex[:8]}:1"
    dockerfile = f"FROM mgmt-test/base:latest\nCMD {json.dumps(['sh', '-c', script])}\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    yield tag
    remove_image_and_its_containers(docker_client, tag)


@pytest.fixture(scope="module")
def chatty_image(docker_client):
    """Prints known lines, then waits."""
    yield from _shell_image(
        docker_client, "chatty", "for i in 1 2 3 4 5 6 7; do echo line-$i; done; exec sleep 600"
    )


@pytest.fixture(scope="module")
def ticker_image(docker_client):
    """Prints a numbered line every 0.2 s, forever."""
    yield from _shell_image(
        docker_client, "ticker", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"
    )


def test_logs_follow_from_a_cursor_without_gaps_or_repeats(agent, unique, ticker_image):
    created = agent.post("/api/containers", json={"name": f"tick-{unique}", "image": ticker_image})
    assert created.status_code == 201, created.text
    time.sleep(0.5)
    first = agent.get(f"/api/containers/tick-{unique}/logs?tail=1").json()["data"]
    [line] = first["lines"]
    seen, cursor = [int(line.removeprefix("tick-"))], first["cursor"]
    for _ in range(6):  # several polls, some inside the same second as the cursor
        time.sleep(0.35)
        answer = agent.get(f"/api/containers/tick-{unique}/logs?after={cursor}")
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        seen += [int(text.removeprefix("tick-")) for text in data["lines"]]
        assert data["cursor"] >= cursor
        cursor = data["cursor"]
    assert seen == list(range(seen[0], seen[0] + len(seen))) and len(seen) >= 8  # in order, none twice
    for bad in ("1", "1.5", "x.000000001", "1.000000001\n", "-1.000000001"):
        assert agent.get(f"/api/containers/tick-{unique}/logs?after={quote(bad)}").status_code == 400


def test_logs_and_stats(agent, workspace, unique, chatty_image):
    created = agent.post("/api/containers", json={"name": f"logs-{unique}", "image": chatty_image})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 10
    while True:
        logs = agent.get(f"/api/containers/logs-{unique}/logs?tail=3")
        assert logs.status_code == 200
        if logs.json()["data"]["lines"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert logs.json()["data"]["lines"] == ["line-5", "line-6", "line-7"]
    assert len(agent.get(f"/api/containers/logs-{unique}/logs").json()["data"]["lines"]) == 7

    stats = agent.get(f"/api/containers/logs-{unique}/stats")
    assert stats.status_code == 200
    figures = stats.json()["data"]
    assert figures["memory"]["limit"] == 2 * 1024**3
    assert 0 < figures["memory"]["used"] < figures["memory"]["limit"]
    assert figures["network"]["rx"] >= 0
    assert figures["cpu_percent"] >= 0

    assert agent.get(f"/api/containers/logs-{unique}/logs?tail=0").status_code == 400
    assert agent.get(f"/api/containers/logs-{unique}/logs?tail=many").status_code == 400


def test_unknown_container_and_image_are_404(agent, unique):
    assert agent.get(f"/api/containers/none-{unique}/ports").status_code == 404
    assert agent.get(f"/api/containers/none-{unique}/stats").status_code == 404
    missing = agent.post(
        "/api/containers", json={"name": f"img-{unique}", "image": f"mgmt-test/none-{unique}:1"}
    )
    assert missing.status_code == 404
    assert "pull or build it first" in missing.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image": WORKSPACE_IMAGE}, "name"),
        ({"name": "../etc", "image": WORKSPACE_IMAGE}, "name"),
        ({"name": "ok", "image": "Not An Image"}, "image"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "cpu": -1}, "cpu"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "cpu": 10_000}, "cpu"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "memory": "lots"}, "memory"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "memory": "1k"}, "memory"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "ports": [0]}, "ports"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "ports": "8080"}, "ports"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "env": {"BAD KEY": "x"}}, "env"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "labels": {"managed": "false"}}, "labels"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "gpus": 1}, "gpus"),
        ({"name": "ok", "image": WORKSPACE_IMAGE, "colour": "blue"}, "colour"),
    ],
)
def test_bad_create_input_is_400_with_a_message(agent, body, message):
    answer = agent.post("/api/containers", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(message)


def test_non_json_body_is_400(agent):
    answer = agent.post("/api/containers", data=b"{nope", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert agent.post("/api/containers", json=[1, 2]).status_code == 400


def test_concurrent_identical_creates_make_one_container(agent, unique, docker_client):
    from concurrent.futures import ThreadPoolExecutor

    body = {"name": f"race-{unique}", "image": WORKSPACE_IMAGE, "ports": [8080]}
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: agent.post("/api/containers", json=body), range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201], [
        a.text for a in answers if a.status_code >= 400
    ]
    assert len({a.json()["data"]["id"] for a in answers}) == 1
    found = docker_client.containers.list(all=True, filters={"name": f"{agent.label_prefix}-race-{unique}"})
    assert len(found) == 1
    assert found[0].status == "running"


def test_unknown_paths_and_methods_answer_in_the_envelope(agent):
    unknown = agent.get("/api/nothing-here")
    assert unknown.status_code == 404
    assert unknown.json() == {"success": False, "message": "No endpoint /api/nothing-here.", "data": None}
    wrong_method = agent.delete("/api/containers")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["success"] is False
