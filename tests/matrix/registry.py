from tests.factories import ServerFactory
from tests.matrix import Ctx, Row, admin_only, expect, operators


def _server(ctx: Ctx) -> None:

    # Its agent port is closed: after the role check the call answers as an unreachable host (503).
    ctx.extra["server"] = ServerFactory(name="matrix-img-host", agent_port=1)


def _registry(ctx: Ctx) -> None:
    from registry.models import Registry

    # A loopback registry while REGISTRY_ALLOW_LOCAL_TARGETS is off: after the role check, every
    # call is refused with 400 because the URL is checked again at use time.
    ctx.extra["registry"] = Registry.objects.create(name="matrix-reg", url="http://127.0.0.1:1")


def _allowed(ctx: Ctx) -> None:
    from registry.models import AllowedImage

    ctx.extra["allowed"] = AllowedImage.objects.create(name="team/matrix:1")


def _sid(ctx: Ctx) -> dict:
    return {"server_id": ctx.server.pk}


def _rid(ctx: Ctx) -> dict:
    return {"pk": ctx.registry.pk}


def _on_registry(name: str, method: str, expected: dict, **kwargs) -> Row:
    return Row(name, method, expected, setup=_registry, kwargs=_rid, **kwargs)


_TAG = {"repository": "team/app", "tag": "v1"}

ROWS = [
    Row("registry:server-images", "GET", operators(503), setup=_server, kwargs=_sid),
    Row(
        "registry:server-images",
        "DELETE",
        admin_only(503),
        setup=_server,
        kwargs=_sid,
        query=lambda ctx: {"image": "team/app:1"},
    ),
    Row(
        "registry:server-images-pull",
        "POST",
        operators(503),
        setup=_server,
        kwargs=_sid,
        data=lambda ctx: {"image": "team/app:1"},
    ),
    Row("registry:images-overview", "GET", operators()),
    Row("registry:registry-list", "GET", operators()),
    Row(
        "registry:registry-list",
        "POST",
        admin_only(201),
        data=lambda ctx: {"name": "hub", "url": "https://192.0.2.10"},
    ),
    _on_registry("registry:registry-detail", "GET", operators()),
    _on_registry("registry:registry-detail", "PATCH", admin_only(), data=lambda ctx: {"verify_tls": False}),
    _on_registry("registry:registry-detail", "DELETE", admin_only()),
    _on_registry("registry:registry-test", "POST", operators(400)),
    _on_registry("registry:registry-repositories", "GET", operators(400)),
    _on_registry(
        "registry:registry-tags", "GET", operators(400), query=lambda ctx: {"repository": "team/app"}
    ),
    _on_registry("registry:registry-tags", "DELETE", admin_only(400), query=lambda ctx: _TAG),
    _on_registry("registry:registry-manifest", "GET", operators(400), query=lambda ctx: _TAG),
    Row("registry:allowed-image-list", "GET", operators()),
    Row("registry:allowed-image-list", "POST", admin_only(201), data=lambda ctx: {"name": "team/new:1"}),
    Row(
        "registry:allowed-image-detail",
        "GET",
        operators(),
        setup=_allowed,
        kwargs=lambda ctx: {"pk": ctx.allowed.pk},
    ),
    Row(
        "registry:allowed-image-detail",
        "PATCH",
        admin_only(),
        setup=_allowed,
        kwargs=lambda ctx: {"pk": ctx.allowed.pk},
        data=lambda ctx: {"is_default": True},
    ),
    Row(
        "registry:allowed-image-detail",
        "DELETE",
        admin_only(),
        setup=_allowed,
        kwargs=lambda ctx: {"pk": ctx.allowed.pk},
    ),
]

__all__ = ["ROWS", "expect"]
