"""Guest OS uploads in chunks with resume (the original's UploadService).

start → chunks at offsets (a resent chunk overwrites the same bytes; a gap is
refused with the offset the server expects) → finish with a SHA-256 that the
server recomputes. Files live under `UPLOAD_ROOT` with generated names only;
the uploader's file name is kept for display and never used as a path.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_log_record
from events.models import EventKind
from events.services import event_publish, job_key
from mgmt.exceptions import Conflict, ValidationFailed

from ..models import GuestUpload, UploadKind, UploadStatus

_BLOCK = 1024 * 1024
_MIB = 1024 * 1024
# Always fullmatch, ASCII only (`$` would let a trailing newline through).
_SHA256_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_FILENAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,200}", re.ASCII)
# Allowed file name endings per kind; the longest match wins (".tar.gz" before ".gz").
EXTENSIONS: dict[str, tuple[str, ...]] = {
    UploadKind.ROOTFS: (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst"),
    UploadKind.ISO: (".iso",),
    UploadKind.DISK: (".qcow2", ".img", ".raw", ".vmdk", ".vdi"),
}


def upload_root() -> Path:
    root = Path(settings.UPLOAD_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def upload_file_path(upload: GuestUpload) -> Path:
    return upload_root() / upload.stored_name


def validate_upload_filename(filename: str) -> str:
    if not isinstance(filename, str) or not _FILENAME_RE.fullmatch(filename):
        raise ValidationFailed("filename: use letters, digits, '.', '_', '+' and '-' only.")
    return filename


def _extension_for(filename: str, kind: str) -> str:
    if kind not in settings.UPLOAD_ALLOWED_KINDS:
        raise ValidationFailed(f"kind: uploads of kind {kind!r} are not allowed here.")
    validate_upload_filename(filename)
    lower = filename.lower()
    matches = [ext for ext in EXTENSIONS[kind] if lower.endswith(ext)]
    if not matches:
        raise ValidationFailed(f"filename: a {kind} upload must end in one of {', '.join(EXTENSIONS[kind])}.")
    return max(matches, key=len)


@transaction.atomic
def upload_start(*, actor: Any, filename: str, size: int, kind: str) -> GuestUpload:
    extension = _extension_for(filename, kind)
    if size <= 0:
        raise ValidationFailed("size: must be positive.")
    if size > settings.UPLOAD_MAX_BYTES:
        raise ValidationFailed(f"size: larger than the limit of {settings.UPLOAD_MAX_BYTES} bytes.")
    upload = GuestUpload.objects.create(
        filename=filename, kind=kind, extension=extension, size=size, created_by=actor
    )
    upload_file_path(upload).touch(mode=0o600)
    audit_log_record(
        action="upload.start",
        actor=actor,
        target=upload,
        details={"filename": filename, "size": size, "kind": kind},
    )
    return upload


def upload_chunk(*, upload_id: Any, offset: int, stream: IO[bytes], length: int) -> GuestUpload:
    """Write `length` bytes from `stream` at `offset`. Resending a chunk is harmless."""
    if offset < 0:
        raise ValidationFailed(f"offset: must not be negative (got {offset}).")
    if length <= 0:
        raise ValidationFailed("The chunk is empty.")
    if length > settings.UPLOAD_CHUNK_MAX_BYTES:
        raise ValidationFailed(f"A chunk may hold at most {settings.UPLOAD_CHUNK_MAX_BYTES} bytes.")
    with transaction.atomic():
        # The row lock serializes chunks of one upload; other uploads go on in parallel.
        upload = GuestUpload.objects.select_for_update().get(pk=upload_id)
        if upload.status != UploadStatus.UPLOADING:
            raise Conflict("The upload is finished; it takes no more chunks.")
        if offset > upload.received:
            raise Conflict(f"offset: expected at most {upload.received} (bytes received so far).")
        if offset + length > upload.size:
            raise Conflict(f"The chunk ends past the declared size of {upload.size} bytes.")
        written = _write_at(upload_file_path(upload), offset, stream, length)
        if written != length:
            raise ValidationFailed(f"The chunk ended after {written} of {length} bytes; send it again.")
        upload.received = max(upload.received, offset + length)
        upload.save(update_fields=["received", "updated_at"])
    return upload


def _write_at(path: Path, offset: int, stream: IO[bytes], length: int) -> int:
    written = 0
    fd = os.open(path, os.O_WRONLY)
    try:
        while written < length:
            block = stream.read(min(_BLOCK, length - written))
            if not block:
                break
            os.pwrite(fd, block, offset + written)
            written += len(block)
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def upload_finish(*, upload_id: Any, sha256: str, actor: Any) -> GuestUpload:
    """Check every byte arrived and the checksum matches, then make the file final."""
    sha256 = sha256.strip().lower()
    if not _SHA256_RE.fullmatch(sha256):
        raise ValidationFailed("sha256: 64 hexadecimal characters expected.")
    with transaction.atomic():
        upload = GuestUpload.objects.select_for_update().get(pk=upload_id)
        if upload.status == UploadStatus.COMPLETE:
            if hmac.compare_digest(upload.sha256, sha256):
                return upload  # finishing twice is harmless
            raise Conflict("The upload is already complete with a different checksum.")
        if upload.received != upload.size:
            raise Conflict(f"Only {upload.received} of {upload.size} bytes have arrived.")
        part = upload_file_path(upload)
        actual = _sha256_of(part)
        if not hmac.compare_digest(actual, sha256):
            # Left open: the client may resend chunks and finish again.
            raise Conflict(f"sha256: the file received has checksum {actual}, not {sha256}.")
        upload.status = UploadStatus.COMPLETE
        upload.sha256 = actual
        upload.completed_at = timezone.now()
        upload.save(update_fields=["status", "sha256", "completed_at", "updated_at"])
        audit_log_record(
            action="upload.complete",
            actor=actor,
            target=upload,
            details={"sha256": actual, "size": upload.size},
        )
        os.replace(part, upload_file_path(upload))  # last: nothing after it can fail but the commit
    return upload


@transaction.atomic
def upload_delete(*, upload: GuestUpload, actor: Any) -> None:
    path = upload_file_path(upload)
    audit_log_record(
        action="upload.delete",
        actor=actor,
        target=upload,
        details={"filename": upload.filename, "status": upload.status},
    )
    upload.delete()
    transaction.on_commit(lambda: path.unlink(missing_ok=True))


# --- a root file system upload as an image --------------------------------------------------
def upload_base_reference(upload: GuestUpload) -> str:
    """The image a rootfs upload becomes on a host: named by its id, tagged by its checksum."""
    return f"guest-os/{upload.id.hex}:{upload.sha256[:16]}"


def _check_importable(upload: GuestUpload) -> None:
    if upload.status != UploadStatus.COMPLETE:
        raise Conflict("The upload is not complete yet.")
    if upload.kind != UploadKind.ROOTFS:
        raise Conflict("Only a root file system tarball can become an image.")


class _ProgressReader:
    """The upload's file as the agent client reads it, publishing every tenth of the way."""

    def __init__(self, handle: IO[bytes], size: int, job: str) -> None:
        self._handle, self._size, self._job = handle, size, job
        self._sent, self._next_tenth = 0, 1

    def __len__(self) -> int:  # requests sends a Content-Length, not chunks
        return self._size

    def read(self, amount: int = -1) -> bytes:
        data = self._handle.read(amount)
        self._sent += len(data)
        while self._size and self._next_tenth <= 10 and self._sent * 10 >= self._size * self._next_tenth:
            event_publish(
                job=self._job,
                kind=EventKind.LOG,
                text=f"Sent {self._sent // _MIB} of {self._size // _MIB} MiB ({self._next_tenth * 10}%).",
                sent=self._sent,
                size=self._size,
            )
            self._next_tenth += 1
        return data


def upload_import(
    *, actor: Any, upload: GuestUpload, server: Any, tag: str = "", changes: list[str] | None = None
) -> dict[str, Any]:
    """Import a finished rootfs upload as an image on `server` (streamed to the agent, checksum-signed).

    Its progress goes to the upload's event stream (`/events/upload/<id>`): a step, a line per tenth
    sent, then done or failed.
    """
    from registry.models import validate_image_ref
    from registry.selectors import server_images_forget
    from servers.clients.agent import AgentClient

    _check_importable(upload)
    tag = tag or upload_base_reference(upload)
    try:
        validate_image_ref(tag)
    except Exception as exc:
        raise ValidationFailed(f"tag: {tag!r} is not an image reference like team/image:tag.") from exc
    job = job_key("upload", upload.pk)
    event_publish(job=job, kind=EventKind.STEP, text=f"Importing {upload.filename} on {server.name} as {tag}")
    try:
        with open(upload_file_path(upload), "rb") as handle:
            image = AgentClient.for_server(server).import_image_file(
                fileobj=_ProgressReader(handle, upload.size, job),
                sha256=upload.sha256,
                tag=tag,
                changes=changes,
            )
    except Exception as exc:
        event_publish(job=job, kind=EventKind.FAILED, text=f"The import on {server.name} failed: {exc}")
        raise
    server_images_forget(server)
    audit_log_record(
        action="upload.import",
        actor=actor,
        target=upload,
        server_id=server.pk,
        details={"tag": tag, "server": server.name, "image_id": image.get("id")},
    )
    event_publish(job=job, kind=EventKind.DONE, text=f"Imported as {tag} on {server.name}.", tag=tag)
    return image


def upload_image_ensure(*, upload: GuestUpload, server: Any, tag: str) -> None:
    """Import the upload on `server` as `tag` unless that image is there already (builds reuse it)."""
    from servers.clients.agent import AgentClient, AgentError

    try:
        AgentClient.for_server(server).get_image(tag)
        return
    except AgentError as exc:
        if exc.agent_status != 404:
            raise
    upload_import(actor=None, upload=upload, server=server, tag=tag, changes=['CMD ["/bin/sh"]'])
