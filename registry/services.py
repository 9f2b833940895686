"""Writes for registries, allowed images and the images on each server.

Registry credentials go to the registry (RegistryClient) and, for a pull or a
push, to the agent in a signed request body; they are never audited, logged or
returned.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.models import AuditSource
from audit.services import audit_log_record
from mgmt.exceptions import Conflict, ValidationFailed
from servers.clients.agent import AgentClient
from servers.models import Server

from .clients import validate_registry_url, validate_repository, validate_tag
from .models import AllowedImage, Registry, validate_image_ref
from .selectors import registry_client, server_images_forget

_UNSET: Any = object()


# --- registries -------------------------------------------------------------------
def _clear_other_defaults(model: type, keep_pk: int) -> None:
    # MariaDB has no partial unique index: the service keeps "at most one default".
    model.objects.select_for_update().filter(is_default=True).exclude(pk=keep_pk).update(is_default=False)


@transaction.atomic
def registry_create(
    *,
    actor: Any,
    name: str,
    url: str,
    username: str = "",
    password: str = "",
    is_default: bool = False,
    verify_tls: bool = True,
) -> Registry:
    if Registry.objects.filter(name=name).exists():
        raise Conflict(f"name: a registry called {name!r} exists already.")
    registry = Registry.objects.create(
        name=name,
        url=validate_registry_url(url),
        username=username,
        password=password,
        is_default=is_default,
        verify_tls=verify_tls,
    )
    if is_default:
        _clear_other_defaults(Registry, registry.pk)
    audit_log_record(
        action="registry.create",
        actor=actor,
        target=registry,
        details={"name": name, "url": registry.url, "username": username, "is_default": is_default},
    )
    return registry


@transaction.atomic
def registry_update(
    *,
    actor: Any,
    registry: Registry,
    name: str = _UNSET,
    url: str = _UNSET,
    username: str = _UNSET,
    password: str = _UNSET,
    is_default: bool = _UNSET,
    verify_tls: bool = _UNSET,
) -> Registry:
    """Change what is given; a password left out is kept, an empty one clears it."""
    changed: list[str] = []
    if name is not _UNSET and name != registry.name:
        if Registry.objects.filter(name=name).exclude(pk=registry.pk).exists():
            raise Conflict(f"name: a registry called {name!r} exists already.")
        registry.name = name
        changed.append("name")
    if url is not _UNSET:
        registry.url = validate_registry_url(url)
        changed.append("url")
    for field, value in (("username", username), ("is_default", is_default), ("verify_tls", verify_tls)):
        if value is not _UNSET:
            setattr(registry, field, value)
            changed.append(field)
    if password is not _UNSET:
        registry.password = password
        changed.append("password")
    registry.save()
    if registry.is_default:
        _clear_other_defaults(Registry, registry.pk)
    audit_log_record(
        action="registry.update",
        actor=actor,
        target=registry,
        details={"changed": changed},  # names only: no credential value is ever audited
    )
    return registry


@transaction.atomic
def registry_delete(*, actor: Any, registry: Registry) -> None:
    audit_log_record(action="registry.delete", actor=actor, target=registry, details={"name": registry.name})
    registry.delete()


def registry_tag_delete(*, actor: Any, registry: Registry, repository: str, tag: str) -> str:
    """Delete a tag through the registry API (network first, then the audit row)."""
    validate_repository(repository)
    validate_tag(tag)
    digest = registry_client(registry).delete_tag(repository, tag)
    audit_log_record(
        action="registry.tag_delete",
        actor=actor,
        target=registry,
        details={"repository": repository, "tag": tag, "digest": digest},
    )
    return digest


# --- allowed workspace images -----------------------------------------------------------
def _check_ref(name: str) -> None:
    try:
        validate_image_ref(name)
    except Exception as exc:
        raise ValidationFailed(f"name: {name!r} is not an image reference like team/image:tag.") from exc


@transaction.atomic
def allowed_image_create(
    *, actor: Any, name: str, description: str = "", is_default: bool = False
) -> AllowedImage:
    _check_ref(name)
    if AllowedImage.objects.filter(name=name).exists():
        raise Conflict(f"name: {name} is on the list already.")
    image = AllowedImage.objects.create(name=name, description=description, is_default=is_default)
    if is_default:
        _clear_other_defaults(AllowedImage, image.pk)
    audit_log_record(
        action="allowed_image.create",
        actor=actor,
        target=image,
        details={"name": name, "is_default": is_default},
    )
    return image


@transaction.atomic
def allowed_image_update(
    *, actor: Any, image: AllowedImage, description: str = _UNSET, is_default: bool = _UNSET
) -> AllowedImage:
    if description is not _UNSET:
        image.description = description
    if is_default is not _UNSET:
        image.is_default = is_default
    image.save()
    if image.is_default:
        _clear_other_defaults(AllowedImage, image.pk)
    audit_log_record(
        action="allowed_image.update",
        actor=actor,
        target=image,
        details={"name": image.name, "is_default": image.is_default},
    )
    return image


@transaction.atomic
def allowed_image_delete(*, actor: Any, image: AllowedImage) -> None:
    audit_log_record(action="allowed_image.delete", actor=actor, target=image, details={"name": image.name})
    image.delete()


# --- images on a server --------------------------------------------------------------------
def server_image_delete(*, actor: Any, server: Server, image: str, force: bool = False) -> dict[str, Any]:
    """Remove an image from a host; the agent answers 409 while a container uses it unless forced."""
    result = AgentClient.for_server(server).delete_image(image, force=force)
    server_images_forget(server)
    audit_log_record(
        action="image.delete",
        actor=actor,
        target=server,
        server_id=server.pk,
        details={"image": image, "force": force, "deleted": result.get("deleted")},
    )
    return result


def server_image_prune(*, server: Server, image_id: str, tags: list[str]) -> None:
    """The cleanup policy's removal of an unused image (never forced: a 409 means it is in use)."""
    AgentClient.for_server(server).delete_image(image_id)
    server_images_forget(server)
    audit_log_record(
        action="image.prune",
        details={"image": image_id, "tags": tags},
        source=AuditSource.SYSTEM,
        server_id=server.pk,
    )


def server_image_pull(
    *, actor: Any, server: Server, image: str, registry: Registry | None = None
) -> dict[str, Any]:
    """Pull `image` onto a host; with a registry, a short name is looked up there with its credentials."""
    _check_ref(image)
    credentials: dict[str, str] | None = None
    if registry is not None:
        if not image.startswith(registry.host + "/"):
            image = f"{registry.host}/{image}"
        credentials = registry.agent_credentials()
    result = AgentClient.for_server(server).pull_image(image, registry=credentials)
    server_images_forget(server)
    audit_log_record(
        action="image.pull",
        actor=actor,
        target=server,
        server_id=server.pk,
        details={"image": image, "registry": registry.name if registry else None, "id": result.get("id")},
    )
    return result
