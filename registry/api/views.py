"""Thin API: registries, allowed workspace images, images per server and across servers."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import OpenApiTypes, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.permissions import ActionPermissionMixin, RequirePermission
from mgmt.api.renderers import APIResponse
from mgmt.api.schema import CONFLICT_ERROR, UPSTREAM_ERROR
from mgmt.exceptions import NotFound
from servers.models import Server

from .. import selectors, services
from ..models import AllowedImage
from . import serializers as s

_REPOSITORIES = inline_serializer(
    "RegistryRepositories", {"repositories": serializers.ListField(child=serializers.CharField())}
)
_TAGS = inline_serializer(
    "RegistryTags",
    {"repository": serializers.CharField(), "tags": serializers.ListField(child=serializers.CharField())},
)
_DIGEST = inline_serializer("RegistryTagDeleted", {"digest": serializers.CharField()})


class RegistryViewSet(ActionPermissionMixin, viewsets.GenericViewSet):
    """Registries (admins manage them; operators read and browse them). Passwords are write-only."""

    serializer_class = s.RegistryOutput
    action_permissions = {
        "list": "view_images",
        "retrieve": "view_images",
        "test": "view_images",
        "repositories": "view_images",
        "tags": "view_images",
        "manifest": "view_images",
        "create": "manage_images",
        "partial_update": "manage_images",
        "destroy": "manage_images",
        "delete_tag": "delete_image",
    }
    default_action_permission = "manage_images"

    def get_queryset(self):
        return selectors.registry_list()

    def list(self, request: Request) -> APIResponse:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.RegistryOutput(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> APIResponse:
        return APIResponse(s.RegistryOutput(self.get_object()).data)

    @extend_schema(request=s.RegistryInput, responses={201: s.RegistryOutput})
    def create(self, request: Request) -> APIResponse:
        data = s.RegistryInput(data=request.data)
        data.is_valid(raise_exception=True)
        registry = services.registry_create(actor=request.user, **data.validated_data)
        return APIResponse(s.RegistryOutput(registry).data, status=201, message="Registry added.")

    @extend_schema(request=s.RegistryInput(partial=True), responses=s.RegistryOutput)
    def partial_update(self, request: Request, pk: str) -> APIResponse:
        data = s.RegistryInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        registry = services.registry_update(
            actor=request.user, registry=self.get_object(), **data.validated_data
        )
        return APIResponse(s.RegistryOutput(registry).data, message="Registry updated.")

    def destroy(self, request: Request, pk: str) -> APIResponse:
        services.registry_delete(actor=request.user, registry=self.get_object())
        return APIResponse(None, message="Registry removed.")

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 503: UPSTREAM_ERROR})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> APIResponse:
        """Ping /v2/ with the stored credentials."""
        registry = self.get_object()
        return APIResponse(selectors.registry_client(registry).ping(), message=f"{registry.name} answers.")

    @extend_schema(responses={200: _REPOSITORIES, 503: UPSTREAM_ERROR})
    @action(detail=True, methods=["get"])
    def repositories(self, request: Request, pk: str) -> APIResponse:
        return APIResponse({"repositories": selectors.registry_client(self.get_object()).list_repositories()})

    @extend_schema(parameters=[s.RepositoryQuery], responses={200: _TAGS, 503: UPSTREAM_ERROR})
    @action(detail=True, methods=["get"])
    def tags(self, request: Request, pk: str) -> APIResponse:
        query = s.RepositoryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        repository = query.validated_data["repository"]
        tags = selectors.registry_client(self.get_object()).list_tags(repository)
        return APIResponse({"repository": repository, "tags": tags})

    @extend_schema(parameters=[s.TagQuery], responses={200: OpenApiTypes.OBJECT, 503: UPSTREAM_ERROR})
    @action(detail=True, methods=["get"])
    def manifest(self, request: Request, pk: str) -> APIResponse:
        query = s.TagQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        info = selectors.registry_client(self.get_object()).manifest(**query.validated_data)
        return APIResponse(asdict(info))

    @extend_schema(parameters=[s.TagQuery], responses={200: _DIGEST, 503: UPSTREAM_ERROR})
    @tags.mapping.delete
    def delete_tag(self, request: Request, pk: str) -> APIResponse:
        query = s.TagQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        digest = services.registry_tag_delete(
            actor=request.user, registry=self.get_object(), **query.validated_data
        )
        return APIResponse({"digest": digest}, message="Tag deleted.")


class AllowedImageViewSet(
    ActionPermissionMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The images workspaces may be created from; admins keep the list."""

    serializer_class = s.AllowedImageSerializer
    queryset = AllowedImage.objects.all()
    action_permissions = {"list": "view_images", "retrieve": "view_images"}
    default_action_permission = "manage_images"

    def create(self, request: Request) -> APIResponse:
        data = s.AllowedImageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.allowed_image_create(actor=request.user, **data.validated_data)
        return APIResponse(s.AllowedImageSerializer(image).data, status=201, message="Image allowed.")

    @extend_schema(request=s.AllowedImageUpdate, responses=s.AllowedImageSerializer)
    def partial_update(self, request: Request, pk: str) -> APIResponse:
        data = s.AllowedImageUpdate(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        image = services.allowed_image_update(
            actor=request.user, image=self.get_object(), **data.validated_data
        )
        return APIResponse(s.AllowedImageSerializer(image).data, message="Updated.")

    def destroy(self, request: Request, pk: str) -> APIResponse:
        services.allowed_image_delete(actor=request.user, image=self.get_object())
        return APIResponse(None, message="Image no longer allowed.")


def _server(pk: int) -> Server:
    server = Server.objects.filter(pk=pk).first()
    if server is None:
        raise NotFound("No such server.")
    return server


class ServerImagesView(APIView):
    """`GET` the images on a host (cached briefly; `?refresh=1` asks now); `DELETE ?image=&force=1`."""

    def get_permissions(self):
        return [RequirePermission("delete_image" if self.request.method == "DELETE" else "view_images")]

    @extend_schema(
        parameters=[s.RefreshQuery],
        responses={200: {"type": "array", "items": {"type": "object"}}, 404: None, 503: UPSTREAM_ERROR},
    )
    def get(self, request: Request, server_id: int) -> APIResponse:
        query = s.RefreshQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        server = _server(server_id)
        return APIResponse(selectors.server_images(server, use_cache=not query.validated_data["refresh"]))

    @extend_schema(
        parameters=[s.ImageQuery],
        responses={200: OpenApiTypes.OBJECT, 404: None, 409: CONFLICT_ERROR, 503: UPSTREAM_ERROR},
    )
    def delete(self, request: Request, server_id: int) -> APIResponse:
        query = s.ImageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = services.server_image_delete(
            actor=request.user, server=_server(server_id), **query.validated_data
        )
        return APIResponse(result, message="Image deleted.")


class ServerImagePullView(APIView):
    """Pull an image onto a host, from a configured registry (with its credentials) when named."""

    permission_classes = [RequirePermission("build_images")]

    @extend_schema(request=s.PullInput, responses={200: OpenApiTypes.OBJECT, 404: None, 503: UPSTREAM_ERROR})
    def post(self, request: Request, server_id: int) -> APIResponse:
        data = s.PullInput(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.server_image_pull(
            actor=request.user, server=_server(server_id), **data.validated_data
        )
        return APIResponse(image, message="Image pulled.")


class ImagesOverviewView(APIView):
    """Which hosts have which image: every host asked in parallel."""

    permission_classes = [RequirePermission("view_images")]

    @extend_schema(parameters=[s.OverviewQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> APIResponse:
        query = s.OverviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return APIResponse(
            selectors.images_overview(Server.objects.all(), image=query.validated_data["image"])
        )
