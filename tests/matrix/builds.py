from tests.factories import ServerFactory
from tests.matrix import Ctx, Row, admin_only, expect, operators


def _upload(ctx: Ctx) -> None:
    from builds.services.uploads import upload_start

    ctx.extra["upload"] = upload_start(actor=ctx.admin, filename="guest.tar", size=4, kind="rootfs")


def _upload_kwargs(ctx: Ctx) -> dict:
    return {"pk": ctx.upload.pk}


ROWS = [
    Row("builds:upload-list", "GET", operators()),
    Row(
        "builds:upload-list",
        "POST",
        operators(201),
        data=lambda ctx: {"filename": "guest.tar", "size": 10, "kind": "rootfs"},
    ),
    Row("builds:upload-detail", "GET", operators(), setup=_upload, kwargs=_upload_kwargs),
    Row("builds:upload-detail", "DELETE", admin_only(), setup=_upload, kwargs=_upload_kwargs),
    Row(
        "builds:upload-finish",
        "POST",
        # Role check first; the operators then hear that only 0 of 4 bytes arrived.
        expect(anonymous=401, alice=403, bob=403, qvp=409, admin=409),
        setup=_upload,
        kwargs=_upload_kwargs,
        data=lambda ctx: {"sha256": "0" * 64},
    ),
    Row(
        "builds:upload-chunk",
        "PUT",
        operators(),
        setup=_upload,
        kwargs=_upload_kwargs,
        query=lambda ctx: {"offset": 0},
        data=lambda ctx: b"abcd",
    ),
    Row(
        "builds:upload-download",
        "GET",
        expect(anonymous=401, alice=403, bob=403, qvp=409, admin=409),
        setup=_upload,
        kwargs=_upload_kwargs,
    ),
]


def _project(ctx: Ctx) -> None:
    from builds.services.projects import project_create, project_member_add

    ctx.extra["project"] = project = project_create(actor=ctx.admin, name="matrix-proj")
    project_member_add(actor=ctx.admin, project=project, user=ctx.qvp)


def _build(ctx: Ctx) -> None:
    from builds.models import Build

    _project(ctx)
    server = ServerFactory(name="matrix-b-host", agent_port=1)
    ctx.extra["server"] = server
    ctx.extra["build"] = Build.objects.create(
        repository="team/app",
        tag="1",
        reference="team/app:1",
        source="dockerfile",
        dockerfile="FROM x",
        server=server,
        project=ctx.project,
        requested_by=ctx.admin,
    )


def _server_only(ctx: Ctx) -> None:
    ctx.extra["server"] = ServerFactory(name="matrix-b-host", agent_port=1)


def _pk(attr: str):
    return lambda ctx: {"pk": getattr(ctx, attr).pk}


ROWS += [
    Row(
        "builds:upload-import",
        "POST",
        # After the role check: the upload is not complete (409).
        expect(anonymous=401, alice=403, bob=403, qvp=409, admin=409),
        setup=lambda ctx: (_upload(ctx), _server_only(ctx)),
        kwargs=_upload_kwargs,
        data=lambda ctx: {"server": ctx.server.pk},
    ),
    Row("builds:project-list", "GET", operators()),
    Row("builds:project-list", "POST", admin_only(201), data=lambda ctx: {"name": "new-proj"}),
    Row("builds:project-detail", "GET", operators(), setup=_project, kwargs=_pk("project")),
    Row(
        "builds:project-detail",
        "PATCH",
        admin_only(),
        setup=_project,
        kwargs=_pk("project"),
        data=lambda ctx: {"description": "x"},
    ),
    Row("builds:project-detail", "DELETE", admin_only(), setup=_project, kwargs=_pk("project")),
    Row(
        "builds:project-members",
        "POST",
        admin_only(),
        setup=_project,
        kwargs=_pk("project"),
        data=lambda ctx: {"username": "ada"},
    ),
    Row(
        "builds:project-members",
        "DELETE",
        admin_only(),
        setup=_project,
        kwargs=_pk("project"),
        data=lambda ctx: {"username": "quentin"},
    ),
    Row("builds:build-list", "GET", operators()),
    Row(
        "builds:build-list",
        "POST",
        operators(201),
        setup=_server_only,
        data=lambda ctx: {
            "server": ctx.server.pk,
            "repository": "team/app",
            "source": "dockerfile",
            "dockerfile": "FROM scratch\n",
        },
    ),
    Row("builds:build-detail", "GET", operators(), setup=_build, kwargs=_pk("build")),
    Row("builds:build-log", "GET", operators(), setup=_build, kwargs=_pk("build")),
    Row("builds:build-cancel", "POST", operators(), setup=_build, kwargs=_pk("build")),
]
