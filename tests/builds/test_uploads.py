"""Chunked guest OS uploads through the API, on MariaDB and the real file system."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from audit.models import AuditLog
from builds.models import GuestUpload, UploadStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def upload_root(tmp_path: Path, settings) -> Path:
    settings.UPLOAD_ROOT = str(tmp_path / "uploads")
    settings.UPLOAD_CHUNK_MAX_BYTES = 1024 * 1024
    settings.UPLOAD_MAX_BYTES = 8 * 1024 * 1024
    return tmp_path / "uploads"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def rootfs_bytes() -> bytes:
    """A small real root file system tarball."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in {"etc/os-release": b"NAME=test\n", "bin/hello": os.urandom(300_000)}.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def start(client: APIClient, data: bytes, filename: str = "guest-rootfs.tar", kind: str = "rootfs") -> dict:
    response = client.post(
        "/api/uploads", {"filename": filename, "size": len(data), "kind": kind}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["data"]


def put_chunk(client: APIClient, upload_id: str, offset: int, chunk: bytes):
    return client.put(
        f"/api/uploads/{upload_id}/chunk?offset={offset}", data=chunk, content_type="application/octet-stream"
    )


def test_chunked_upload_with_a_resent_chunk(qvp_user, upload_root):
    client = client_for(qvp_user)
    data = rootfs_bytes()
    upload = start(client, data)
    step = 100_000
    offsets = list(range(0, len(data), step))
    for index, offset in enumerate(offsets):
        response = put_chunk(client, upload["id"], offset, data[offset : offset + step])
        assert response.status_code == 200, response.json()
        if index == 1:  # the client lost the answer and sends the same chunk again
            again = put_chunk(client, upload["id"], offset, data[offset : offset + step])
            assert again.status_code == 200
            assert again.json()["data"]["received"] == offset + step

    status = client.get(f"/api/uploads/{upload['id']}").json()["data"]
    assert status["received"] == len(data) and status["status"] == "uploading"

    sha = hashlib.sha256(data).hexdigest()
    response = client.post(f"/api/uploads/{upload['id']}/finish", {"sha256": sha}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["status"] == "complete"

    stored = GuestUpload.objects.get(pk=upload["id"])
    files = list(upload_root.iterdir())
    assert files == [upload_root / f"{stored.id.hex}.tar"]  # a generated name, not the uploader's
    assert files[0].read_bytes() == data

    download = client.get(f"/api/uploads/{upload['id']}/download")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data
    assert 'filename="guest-rootfs.tar"' in download["Content-Disposition"]
    assert AuditLog.objects.filter(action_type="upload.complete", target_id=str(stored.pk)).count() == 1


def test_resume_after_interruption_reads_the_offset(qvp_user):
    client = client_for(qvp_user)
    data = os.urandom(250_000)
    upload = start(client, data, filename="disk.qcow2", kind="disk")
    assert put_chunk(client, upload["id"], 0, data[:100_000]).status_code == 200
    # A new client session asks where to go on from.
    received = client.get(f"/api/uploads/{upload['id']}").json()["data"]["received"]
    assert received == 100_000
    assert put_chunk(client, upload["id"], received, data[received:]).status_code == 200
    sha = hashlib.sha256(data).hexdigest()
    assert (
        client.post(f"/api/uploads/{upload['id']}/finish", {"sha256": sha}, format="json").status_code == 200
    )


def test_a_gap_is_refused_with_the_expected_offset(qvp_user):
    client = client_for(qvp_user)
    data = os.urandom(200_000)
    upload = start(client, data)
    put_chunk(client, upload["id"], 0, data[:50_000])
    response = put_chunk(client, upload["id"], 100_000, data[100_000:150_000])
    assert response.status_code == 409
    assert "expected at most 50000" in response.json()["message"]


def test_a_negative_offset_is_a_bad_request_not_a_conflict(qvp_user, upload_root):
    client = client_for(qvp_user)
    upload = start(client, b"x" * 1000)
    response = put_chunk(client, upload["id"], -5, b"x" * 10)
    assert response.status_code == 400
    assert response.json()["data"] == {"offset": ["Ensure this value is greater than or equal to 0."]}
    assert GuestUpload.objects.get(pk=upload["id"]).received == 0


def test_wrong_checksum_is_refused_and_the_upload_can_be_repaired(qvp_user):
    client = client_for(qvp_user)
    data = os.urandom(120_000)
    upload = start(client, data)
    corrupted = bytearray(data)
    corrupted[70_000] ^= 0xFF
    put_chunk(client, upload["id"], 0, bytes(corrupted[:60_000]))
    put_chunk(client, upload["id"], 60_000, bytes(corrupted[60_000:]))
    sha = hashlib.sha256(data).hexdigest()

    refused = client.post(f"/api/uploads/{upload['id']}/finish", {"sha256": sha}, format="json")
    assert refused.status_code == 409  # well formed, but not what was received
    assert refused.json()["message"].startswith("sha256: the file received has checksum")
    assert GuestUpload.objects.get(pk=upload["id"]).status == UploadStatus.UPLOADING

    put_chunk(client, upload["id"], 60_000, data[60_000:])  # resend the bad chunk
    assert (
        client.post(f"/api/uploads/{upload['id']}/finish", {"sha256": sha}, format="json").status_code == 200
    )


def test_finish_before_all_bytes_arrived_is_a_conflict(qvp_user):
    client = client_for(qvp_user)
    data = os.urandom(10_000)
    upload = start(client, data)
    put_chunk(client, upload["id"], 0, data[:5_000])
    response = client.post(
        f"/api/uploads/{upload['id']}/finish", {"sha256": hashlib.sha256(data).hexdigest()}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["message"] == "Only 5000 of 10000 bytes have arrived."


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"filename": "../../etc/passwd.tar", "size": 10, "kind": "rootfs"}, "filename"),
        ({"filename": "evil.sh", "size": 10, "kind": "rootfs"}, "filename"),
        ({"filename": "image.iso", "size": 10, "kind": "rootfs"}, "filename"),
        ({"filename": "fine.tar", "size": 9 * 1024 * 1024, "kind": "rootfs"}, "size"),
        ({"filename": "fine.tar", "size": 0, "kind": "rootfs"}, "size"),
        ({"filename": "fine.exe", "size": 10, "kind": "binary"}, "kind"),
    ],
)
def test_bad_start_requests_name_the_field(qvp_user, payload, field, upload_root):
    response = client_for(qvp_user).post("/api/uploads", payload, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"Invalid input: {field}") or response.json()[
        "message"
    ].startswith(f"{field}:")
    assert not GuestUpload.objects.exists()
    assert not upload_root.exists() or not list(upload_root.iterdir())


def test_kinds_are_limited_by_settings(qvp_user, settings):
    settings.UPLOAD_ALLOWED_KINDS = ["rootfs"]
    response = client_for(qvp_user).post(
        "/api/uploads", {"filename": "a.iso", "size": 5, "kind": "iso"}, format="json"
    )
    assert response.status_code == 400
    assert "not allowed" in response.json()["message"]


def test_chunks_past_the_size_or_too_big_are_refused(qvp_user, settings):
    client = client_for(qvp_user)
    upload = start(client, b"x" * 1000)
    assert put_chunk(client, upload["id"], 0, b"y" * 1200).status_code == 409  # past the declared size
    settings.UPLOAD_CHUNK_MAX_BYTES = 100
    assert put_chunk(client, upload["id"], 0, b"y" * 200).status_code == 400
    response = client.put(
        f"/api/uploads/{upload['id']}/chunk", data=b"x", content_type="application/octet-stream"
    )
    assert response.status_code == 400 and "offset" in response.json()["data"]


def test_roles(admin_user, qvp_user, alice, upload_root, django_capture_on_commit_callbacks):
    data = b"a" * 100
    upload = start(client_for(qvp_user), data)
    anonymous = APIClient()
    assert anonymous.get("/api/uploads").status_code == 401
    assert client_for(alice).get("/api/uploads").status_code == 403
    assert (
        client_for(alice).post("/api/uploads", {"filename": "a.tar", "size": 1, "kind": "rootfs"}).status_code
        == 403
    )
    assert client_for(qvp_user).get("/api/uploads").json()["data"]["count"] == 1
    assert client_for(qvp_user).delete(f"/api/uploads/{upload['id']}").status_code == 403

    with django_capture_on_commit_callbacks(execute=True):  # the file goes once the row is gone
        response = client_for(admin_user).delete(f"/api/uploads/{upload['id']}")
    assert response.status_code == 200
    assert not GuestUpload.objects.exists()
    assert list(upload_root.iterdir()) == []
    row = AuditLog.objects.get(action_type="upload.delete")
    assert row.actor == admin_user and row.target_id == upload["id"]


def test_unknown_upload_is_404(qvp_user):
    response = client_for(qvp_user).get("/api/uploads/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["success"] is False
