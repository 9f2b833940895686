"""Reads: allowed workspace images, registries, the images on each host and across hosts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from loguru import logger

from servers.clients.agent import AgentClient, AgentError, AgentTarget, AgentUnavailable
from servers.fanout import agent_deadline, agents_fan_out
from servers.models import Server

from .clients import RegistryClient, validate_registry_url
from .models import AllowedImage, Registry


def allowed_workspace_images() -> list[str]:
    """Images workspaces may use: the admins' list, or the configured default when it is empty."""
    names = list(AllowedImage.objects.values_list("name", flat=True))
    return names or [settings.WORKSPACE_DEFAULT_IMAGE]


def default_workspace_image() -> str:
    default = AllowedImage.objects.filter(is_default=True).values_list("name", flat=True).first()
    if default:
        return default
    first = AllowedImage.objects.values_list("name", flat=True).first()
    return first or settings.WORKSPACE_DEFAULT_IMAGE


# --- registries -----------------------------------------------------------------------
def registry_list() -> QuerySet[Registry]:
    return Registry.objects.all()


def registry_client(registry: Registry) -> RegistryClient:
    """A client for `registry`; its URL is checked again (the allow-local setting may have changed)."""
    return RegistryClient(
        url=validate_registry_url(registry.url),
        username=registry.username,
        password=registry.password,
        verify_tls=registry.verify_tls,
        name=registry.name,
    )


# --- images on servers ------------------------------------------------------------------
def _images_key(server_id: int) -> str:
    return f"registry:server-images:{server_id}"


def server_images(server: Server, *, use_cache: bool = True) -> list[dict[str, Any]]:
    """The images on one host (the agent's image objects), cached for SERVER_IMAGES_TTL seconds."""
    if use_cache:
        cached = cache.get(_images_key(server.pk))
        if isinstance(cached, list):
            return cached
    images = AgentClient.for_server(server).list_images()
    cache.set(_images_key(server.pk), images, settings.SERVER_IMAGES_TTL)
    return images


def server_images_forget(server: Server) -> None:
    """Drop the cached list after a change (delete, pull, build, import)."""
    cache.delete(_images_key(server.pk))


@dataclass
class HostImages:
    server_id: int
    server: str
    ok: bool
    error: str = ""
    images: list[dict[str, Any]] = field(default_factory=list)


def _images_of(server: Server, target: AgentTarget) -> HostImages:
    try:
        cached = cache.get(_images_key(server.pk))
        images = cached if isinstance(cached, list) else AgentClient(target).list_images()
    except (AgentUnavailable, AgentError) as exc:
        return HostImages(server.pk, server.name, False, exc.message)
    except Exception as exc:  # one malformed answer must not take the overview down
        logger.warning("Images of {} could not be read: {!r}", server.name, exc)
        return HostImages(server.pk, server.name, False, f"Unreadable image list from {server.name}.")
    cache.set(_images_key(server.pk), images, settings.SERVER_IMAGES_TTL)
    return HostImages(server.pk, server.name, True, images=images)


def images_overview(servers: Iterable[Server], *, image: str = "") -> dict[str, Any]:
    """Which hosts have which image: every host asked in parallel (bounded pool, overall deadline).

    Returns `{"images": [{tag, hosts: [{server_id, server, id, size, in_use}]}], "hosts": [...]}`;
    `image` keeps only tags containing that text. A host that does not answer in time is listed
    with its error and never delays the others.
    """
    servers = list(servers)
    targets = {s.pk: AgentTarget.for_server(s) for s in servers}  # secrets decrypted here, not in threads
    results = agents_fan_out(
        servers,
        lambda server: _images_of(server, targets[server.pk]),
        deadline=agent_deadline(),
        late=lambda server: HostImages(
            server.pk, server.name, False, f"Agent on {server.name} did not answer in time."
        ),
        name="images",
    )
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for host in results:
        for item in host.images:
            for tag in item.get("tags") or [item.get("id", "")]:
                if image and image not in tag:
                    continue
                by_tag.setdefault(tag, []).append(
                    {
                        "server_id": host.server_id,
                        "server": host.server,
                        "id": item.get("id"),
                        "size": item.get("size"),
                        "in_use": item.get("in_use"),
                    }
                )
    return {
        "images": [{"tag": tag, "hosts": hosts} for tag, hosts in sorted(by_tag.items())],
        "hosts": [
            {"server_id": h.server_id, "server": h.server, "ok": h.ok, "error": h.error}
            for h in sorted(results, key=lambda h: h.server)
        ],
    }
