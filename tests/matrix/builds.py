from tests.matrix import Ctx, Row, admin_only, expect, operators


def _upload(ctx: Ctx) -> None:
    from builds.uploads import upload_start

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
