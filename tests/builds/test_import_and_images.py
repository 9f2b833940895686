"""Guest OS upload → image → build on top; images per server and across servers; pulls with credentials.

All on real components: dockerd, agent processes, docker-registry (htpasswd), MariaDB.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile

import pytest

from audit.models import AuditLog
from builds.models import Build, BuildLogLine, BuildStatus
from events.selectors import events_after
from events.services import job_key
from registry.models import Registry
from tests.factories import ServerFactory, UserFactory
from tests.services import require_binary

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def busybox_rootfs() -> bytes:
    """A real root file system: busybox-static as /bin/busybox and /bin/sh."""
    busybox = require_binary("busybox", "busybox-static")
    with open(shutil.which("busybox") or busybox, "rb") as handle:
        data = handle.read()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in ("sh", "echo", "cat"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(link)
        release = b"NAME=guest-os-test\n"
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(release)
        tar.addfile(info, io.BytesIO(release))
    return buffer.getvalue()


@pytest.mark.django_db(transaction=True)
def test_upload_in_chunks_import_and_build_on_top(server, client_as, unique, created_images):
    qvp = UserFactory(qvp=True)
    api = client_as(qvp)
    data = busybox_rootfs()
    started = api.post(
        "/api/uploads", {"filename": "guest.tar", "size": len(data), "kind": "rootfs"}, format="json"
    )
    upload_id = started.json()["data"]["id"]
    chunk = 512 * 1024
    offsets = list(range(0, len(data), chunk))
    for index, offset in enumerate(offsets):
        part = data[offset : offset + chunk]
        sent = api.put(
            f"/api/uploads/{upload_id}/chunk?offset={offset}",
            data=part,
            content_type="application/octet-stream",
        )
        assert sent.status_code == 200, sent.json()
        if index == 0:  # the first chunk again, as a client resuming after a lost answer would
            again = api.put(
                f"/api/uploads/{upload_id}/chunk?offset=0", data=part, content_type="application/octet-stream"
            )
            assert again.status_code == 200
    wrong = api.post(f"/api/uploads/{upload_id}/finish", {"sha256": "0" * 64}, format="json")
    assert wrong.status_code == 409 and "checksum" in wrong.json()["message"]
    digest = hashlib.sha256(data).hexdigest()
    assert api.post(f"/api/uploads/{upload_id}/finish", {"sha256": digest}, format="json").status_code == 200

    tag = f"guest/imported-{unique}:1"
    created_images.append(tag)
    imported = api.post(f"/api/uploads/{upload_id}/import", {"server": server.pk, "tag": tag}, format="json")
    assert imported.status_code == 201, imported.json()
    assert tag in imported.json()["data"]["tags"]
    assert AuditLog.objects.filter(action_type="upload.import").exists()
    # Its progress went to the upload's stream: the step, each tenth sent, then done with the tag.
    events = events_after(job=job_key("upload", upload_id))
    assert [e.kind for e in events] == ["step"] + ["log"] * 10 + ["done"]
    assert events[10].text.endswith("(100%).") and events[10].data["sent"] == len(data)
    assert events[-1].data["tag"] == tag
    listed = api.get(f"/api/servers/{server.pk}/images?refresh=1").json()["data"]
    assert any(tag in image["tags"] for image in listed)

    refused = api.post(
        "/api/builds",
        {
            "server": server.pk,
            "repository": f"team/on-guest-{unique}",
            "source": "upload",
            "base_upload": upload_id,
            "dockerfile": "FROM other\nRUN true\n",
        },
        format="json",
    )
    assert refused.status_code == 400 and "FROM" in refused.json()["message"]

    created_images.append(f"team/on-guest-{unique}:1")
    answer = api.post(
        "/api/builds",
        {
            "server": server.pk,
            "repository": f"team/on-guest-{unique}",
            "tag": "1",
            "source": "upload",
            "base_upload": upload_id,
            "dockerfile": "RUN cat /etc/os-release && echo layered > /layer\n",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    build = Build.objects.get(pk=answer.json()["data"]["id"])
    from builds.services.uploads import upload_base_reference

    created_images.append(upload_base_reference(build.base_upload))
    log = "\n".join(BuildLogLine.objects.filter(build=build).values_list("text", flat=True))
    assert build.status == BuildStatus.SUCCEEDED, (build.reason, log)
    assert "NAME=guest-os-test" in log
    out = subprocess.run(
        ["docker", "run", "--rm", f"team/on-guest-{unique}:1", "cat", "/layer"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "layered", out.stderr


@pytest.mark.django_db(transaction=True)
def test_images_per_server_in_use_delete_overview_and_pull(
    server, agent_factory, registry_factory, client_as, unique, created_images
):
    admin, qvp = UserFactory(admin=True), UserFactory(qvp=True)
    admin_api, qvp_api, alice_api = client_as(admin), client_as(qvp), client_as(UserFactory())
    local = f"mgmt-test/img-{unique}:1"
    created_images.append(local)
    subprocess.run(["docker", "tag", "mgmt-test/base:latest", local], check=True)
    # A second tag of the same image, so deleting `local` only untags it unless a container holds it.
    container = subprocess.run(
        ["docker", "create", "--name", f"img-user-{unique}", local],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        images = qvp_api.get(f"/api/servers/{server.pk}/images?refresh=1").json()["data"]
        assert any(local in image["tags"] for image in images)
        assert alice_api.get(f"/api/servers/{server.pk}/images").status_code == 403
        assert qvp_api.delete(f"/api/servers/{server.pk}/images?image={local}").status_code == 403
        in_use = admin_api.delete(f"/api/servers/{server.pk}/images?image={local}")
        assert in_use.status_code == 409, in_use.json()
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)

    # Overview: one live host with the image, one host whose agent is down (reported, not fatal).
    ServerFactory(name=f"down-{unique}", agent_port=1)  # nothing answers on port 1
    overview = qvp_api.get(f"/api/images/overview?image=img-{unique}").json()["data"]
    assert [row["tag"] for row in overview["images"]] == [local]
    assert [host["server"] for host in overview["images"][0]["hosts"]] == [server.name]
    hosts = {host["server"]: host for host in overview["hosts"]}
    assert hosts[server.name]["ok"] and not hosts[f"down-{unique}"]["ok"]

    # Push it to a registry with htpasswd, remove it here, pull it back through the API.
    password = f"pw-{unique}"
    registry_process = registry_factory(username="ci", password=password)
    registry_process.push(local, f"team/pull-{unique}", "1")
    remote = f"{registry_process.address}/team/pull-{unique}:1"
    subprocess.run(["docker", "rmi", remote], capture_output=True)
    registry = Registry.objects.create(
        name=f"pull-{unique}", url=registry_process.url, username="ci", password=password
    )
    created_images.append(remote)
    pulled = qvp_api.post(
        f"/api/servers/{server.pk}/images/pull",
        {"image": f"team/pull-{unique}:1", "registry": registry.pk},
        format="json",
    )
    assert pulled.status_code == 200, pulled.json()
    assert remote in pulled.json()["data"]["tags"]
    assert password not in pulled.content.decode()

    deleted = admin_api.delete(f"/api/servers/{server.pk}/images?image={remote}")
    assert deleted.status_code == 200, deleted.json()
    after = admin_api.get(f"/api/servers/{server.pk}/images").json()["data"]  # the cache was dropped
    assert not any(remote in image["tags"] for image in after)
