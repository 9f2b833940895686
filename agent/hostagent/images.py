"""Image operations: list, delete, pull, push, build (streamed) and import.

Registry credentials travel in the request, go to the Docker Engine as its
`auth_config` and are never logged or echoed back.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from docker.utils import parse_repository_tag

from .config import AgentConfig
from .docker_client import get_client, translate_errors
from .errors import BadRequest, Conflict, DockerFailed, NotFound
from .policy import IMAGE_RE

log = logging.getLogger("hostagent.images")
_IMAGE_ID_RE = re.compile(r"(?:sha256:)?[0-9a-f]{12,64}", re.ASCII)  # always fullmatch


def validate_reference(value: Any, *, what: str = "image") -> str:
    if not isinstance(value, str) or len(value) > 255 or not IMAGE_RE.fullmatch(value):
        raise BadRequest(
            f"{what}: {value!r} is not a Docker image reference such as registry:5000/team/ide:1.0."
        )
    return value


def _validate_ident(ident: str) -> str:
    if _IMAGE_ID_RE.fullmatch(ident) or (len(ident) <= 255 and IMAGE_RE.fullmatch(ident)):
        return ident
    raise NotFound(f"No image {ident!r}.")


def _tags(tags: list[str] | None) -> list[str]:
    return [tag for tag in tags or [] if tag != "<none>:<none>"]


def _created(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).isoformat()
    return str(value)


def _images_in_use(config: AgentConfig) -> set[str]:
    """Ids of images any container on the host uses (not only managed ones)."""
    with translate_errors("Listing containers"):
        return {c["ImageID"] for c in get_client(config).api.containers(all=True) if c.get("ImageID")}


def image_list(*, config: AgentConfig) -> list[dict[str, Any]]:
    with translate_errors("Listing images"):
        summaries = get_client(config).api.images()
    in_use = _images_in_use(config)
    return [
        {
            "id": s["Id"],
            "tags": _tags(s.get("RepoTags")),
            "size": s.get("Size", 0),
            "created": _created(s.get("Created")),
            "in_use": s["Id"] in in_use,
        }
        for s in summaries
    ]


def image_get(*, config: AgentConfig, ident: str) -> dict[str, Any]:
    _validate_ident(ident)
    with translate_errors(f"Looking up image {ident}"):
        attrs = get_client(config).api.inspect_image(ident)
    return {
        "id": attrs["Id"],
        "tags": _tags(attrs.get("RepoTags")),
        "size": attrs.get("Size", 0),
        "created": _created(attrs.get("Created")),
        "in_use": attrs["Id"] in _images_in_use(config),
    }


def image_delete(*, config: AgentConfig, ident: str, force: bool) -> dict[str, Any]:
    image = image_get(config=config, ident=ident)
    if image["in_use"] and not force:
        raise Conflict(f"Image {ident} is used by a container; delete the container or force.")
    with translate_errors(f"Deleting image {ident}"):
        get_client(config).api.remove_image(ident, force=force)
    log.info("Deleted image %s (%s)%s", ident, image["id"][:19], " forced" if force else "")
    return {"deleted": image["id"]}


def _auth_config(registry: Any) -> dict[str, str] | None:
    if registry in (None, {}):
        return None
    if not isinstance(registry, dict):
        raise BadRequest("registry: must be an object {url, username, password}.")
    username, password = registry.get("username") or "", registry.get("password") or ""
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadRequest("registry: username and password must be strings.")
    if not username:
        return None
    auth = {"username": username, "password": password}
    if isinstance(registry.get("url"), str) and registry["url"]:
        auth["serveraddress"] = registry["url"]
    return auth


_CREDENTIAL_REFUSALS = ("unauthorized", "no basic auth credentials", "authentication required", "denied")


@contextlib.contextmanager
def _registry_errors(what: str) -> Iterator[None]:
    """Docker reports a registry's refusal as its own 500; the caller's credentials are at fault."""
    try:
        with translate_errors(what):
            yield
    except DockerFailed as exc:
        if any(marker in exc.message.lower() for marker in _CREDENTIAL_REFUSALS):
            reason = exc.message.rsplit(": ", 1)[-1]
            raise BadRequest(f"{what}: the registry refused the credentials ({reason}).") from exc
        raise


def _split(reference: str) -> tuple[str, str]:
    repository, tag = parse_repository_tag(reference)
    if tag is None:
        tag = "latest"
    return repository, tag


def image_pull(*, config: AgentConfig, image: Any, registry: Any = None) -> dict[str, Any]:
    reference = validate_reference(image)
    repository, tag = _split(reference)
    auth = _auth_config(registry)
    with _registry_errors(f"Pulling {reference}"):
        for event in get_client(config).api.pull(
            repository, tag=tag, auth_config=auth, stream=True, decode=True
        ):
            if "error" in event:
                raise DockerFailed(f"Pulling {reference}: {event['error']}")
    log.info("Pulled %s", reference)  # never the credentials
    joiner = "@" if tag.startswith("sha256:") else ":"
    return image_get(config=config, ident=f"{repository}{joiner}{tag}")


def image_push(*, config: AgentConfig, image: Any, registry: Any = None) -> Iterator[dict[str, Any]]:
    """Start a push (errors before any byte is sent raise); then yield progress events, last done/error."""
    reference = validate_reference(image)
    image_get(config=config, ident=reference)  # 404 before the stream starts
    repository, tag = _split(reference)
    auth = _auth_config(registry)
    with _registry_errors(f"Pushing {reference}"):
        events = get_client(config).api.push(repository, tag=tag, auth_config=auth, stream=True, decode=True)
    return _push_events(config, reference, events)


def _push_events(config: AgentConfig, reference: str, events: Iterator[dict]) -> Iterator[dict[str, Any]]:
    digest = None
    try:
        with translate_errors(f"Pushing {reference}"):
            for event in events:
                if "error" in event:
                    yield {"error": f"Pushing {reference}: {event['error']}"}
                    return
                if isinstance(event.get("aux"), dict) and event["aux"].get("Digest"):
                    digest = event["aux"]["Digest"]
                line = " ".join(str(event[k]) for k in ("id", "status", "progress") if event.get(k))
                if line:
                    yield {"line": line}
    except Exception as exc:  # the answer has started: the failure can only be a line
        yield {"error": str(getattr(exc, "message", exc))}
        return
    log.info("Pushed %s (%s)", reference, digest)
    yield {"done": True, "digest": digest}


def _dockerfile_context(dockerfile: str) -> io.BytesIO:
    data = dockerfile.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def image_build(
    *, config: AgentConfig, tag: Any, dockerfile: str | None = None, context: IO[bytes] | None = None
) -> Iterator[dict[str, Any]]:
    """Start a build from a Dockerfile text or a tar context; then yield its output line by line."""
    reference = validate_reference(tag, what="tag")
    if (dockerfile is None) == (context is None):
        raise BadRequest("Give either a Dockerfile text or a build context (tar), not both.")
    if dockerfile is not None and not dockerfile.strip():
        raise BadRequest("dockerfile: is empty.")
    fileobj = _dockerfile_context(dockerfile) if dockerfile is not None else context
    with translate_errors(f"Building {reference}"):
        events = get_client(config).api.build(
            fileobj=fileobj,
            custom_context=True,
            tag=reference,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels={f"{config.label_prefix}.built-by": "agent"},
        )
    return _build_events(config, reference, events)


def _build_events(config: AgentConfig, reference: str, events: Iterator[dict]) -> Iterator[dict[str, Any]]:
    image_id = None
    try:
        with translate_errors(f"Building {reference}"):
            for event in events:
                if "error" in event:
                    yield {"error": str(event["error"]).strip()}
                    return
                if isinstance(event.get("aux"), dict) and event["aux"].get("ID"):
                    image_id = event["aux"]["ID"]
                text = event.get("stream") or event.get("status") or ""
                for line in str(text).splitlines():
                    if line.strip():
                        yield {"line": line}
    except Exception as exc:  # the answer has started: the failure can only be a line
        yield {"error": str(getattr(exc, "message", exc))}
        return
    if image_id is None:
        image_id = image_get(config=config, ident=reference)["id"]
    log.info("Built %s (%s)", reference, image_id)
    yield {"done": True, "image_id": image_id, "tag": reference}


def image_import(*, config: AgentConfig, tag: Any, body: IO[bytes], changes: list[str]) -> dict[str, Any]:
    """A root filesystem tarball (the request body) becomes an image tagged `tag`."""
    reference = validate_reference(tag, what="tag")
    repository, image_tag = _split(reference)
    for change in changes:
        if not re.match(r"^(CMD|ENTRYPOINT|ENV|EXPOSE|LABEL|USER|WORKDIR) ", change):
            raise BadRequest(f"change: {change!r} is not an allowed Dockerfile instruction.")
    try:
        result = _import(config, body, repository, image_tag, changes, reference)
    except DockerFailed as exc:
        if "tar" in exc.message:
            raise BadRequest(f"Importing {reference}: the body is not a valid tar archive.") from exc
        raise
    for line in str(result).splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "error" in event:
            raise BadRequest(f"Importing {reference}: {event['error']}")
    log.info("Imported %s", reference)
    return image_get(config=config, ident=reference)


def _import(
    config: AgentConfig, body: IO[bytes], repository: str, tag: str, changes: list[str], reference: str
) -> Any:
    with translate_errors(f"Importing {reference}"):
        # Not import_image_from_stream: it sends chunked *and* a length, which dockerd refuses.
        return get_client(config).api.import_image_from_data(
            body, repository=repository, tag=tag, changes=changes or None
        )


def ndjson(events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        yield json.dumps(event).encode() + b"\n"
