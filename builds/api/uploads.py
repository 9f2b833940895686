"""Thin API over guest OS uploads: start, chunks, finish, download, delete, import."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.request import Request

from accounts.permissions import ActionPermissionMixin
from builds.models import UploadStatus
from builds.selectors import upload_list
from builds.services import uploads
from mgmt.api.parsers import OctetStreamParser
from mgmt.api.renderers import APIResponse
from mgmt.api.schema import CONFLICT_ERROR, UPSTREAM_ERROR
from mgmt.exceptions import Conflict, ValidationFailed

from .serializers import (
    ChunkQuery,
    UploadFinishSerializer,
    UploadImportSerializer,
    UploadSerializer,
    UploadStartSerializer,
    upload_start_schema,
)


class UploadViewSet(
    ActionPermissionMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Guest OS uploads: start, send chunks at offsets, finish with a SHA-256; list, download, delete."""

    serializer_class = UploadSerializer
    parser_classes = [JSONParser]
    action_permissions = {
        "list": "view_images",
        "retrieve": "view_images",
        "download": "view_images",
        "create": "upload_guest_os",
        "chunk": "upload_guest_os",
        "finish": "upload_guest_os",
        "destroy": "delete_upload",
        "import_image": "build_images",
    }

    default_action_permission = "delete_upload"

    def get_queryset(self):
        return upload_list()

    @extend_schema(request={"application/json": upload_start_schema()}, responses={201: UploadSerializer})
    def create(self, request: Request) -> APIResponse:
        data = UploadStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = uploads.upload_start(actor=request.user, **data.validated_data)
        return APIResponse(UploadSerializer(upload).data, status=201, message="Upload started.")

    @extend_schema(
        request={
            "application/octet-stream": {
                "type": "string",
                "format": "binary",
                "minLength": 1,
                "description": f"The bytes from `offset` on, at most {settings.UPLOAD_CHUNK_MAX_BYTES}.",
            }
        },
        parameters=[ChunkQuery],
        responses={200: UploadSerializer, 409: CONFLICT_ERROR},
    )
    @action(detail=True, methods=["put"], parser_classes=[OctetStreamParser])
    def chunk(self, request: Request, pk: str | None = None) -> APIResponse:
        upload = self.get_object()
        query = ChunkQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        offset = query.validated_data["offset"]
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError as exc:
            raise ValidationFailed("Content-Length: not a number.") from exc
        upload = uploads.upload_chunk(
            upload_id=upload.pk, offset=offset, stream=request.stream, length=length
        )
        return APIResponse(
            UploadSerializer(upload).data, message=f"{upload.received} of {upload.size} bytes."
        )

    @extend_schema(request=UploadFinishSerializer, responses={200: UploadSerializer, 409: CONFLICT_ERROR})
    @action(detail=True, methods=["post"])
    def finish(self, request: Request, pk: str | None = None) -> APIResponse:
        upload = self.get_object()
        data = UploadFinishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = uploads.upload_finish(
            upload_id=upload.pk,
            sha256=data.validated_data["sha256"],
            actor=request.user,
        )
        return APIResponse(UploadSerializer(upload).data, message="Upload complete; checksum verified.")

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 409: CONFLICT_ERROR})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        upload = self.get_object()
        if upload.status != UploadStatus.COMPLETE:
            raise Conflict("The upload is not complete yet.")
        path = uploads.upload_file_path(upload)
        return FileResponse(path.open("rb"), as_attachment=True, filename=upload.filename)

    def destroy(self, request: Request, pk: str | None = None) -> APIResponse:
        uploads.upload_delete(upload=self.get_object(), actor=request.user)
        return APIResponse(None, message="Upload deleted.")

    @extend_schema(
        request=UploadImportSerializer,
        responses={201: OpenApiTypes.OBJECT, 404: None, 409: CONFLICT_ERROR, 503: UPSTREAM_ERROR},
    )
    @action(detail=True, methods=["post"], url_path="import", url_name="import")
    def import_image(self, request: Request, pk: str | None = None) -> APIResponse:
        """A finished root file system upload becomes an image on a server (agent import)."""
        data = UploadImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = uploads.upload_import(actor=request.user, upload=self.get_object(), **data.validated_data)
        return APIResponse(image, status=201, message="Imported as an image.")
