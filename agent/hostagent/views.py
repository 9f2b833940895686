"""Thin views: parse input, call one operation, answer in the envelope."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse, StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from . import __version__, containers, folders, images, system
from .auth import CheckedBody
from .docker_client import docker_answers, get_client, translate_errors
from .errors import AgentResponse, BadRequest, envelope
from .serializers import (
    ActionQuerySerializer,
    BuildSerializer,
    DeleteImageQuerySerializer,
    ImageTransferSerializer,
    ImportQuerySerializer,
    LogsQuerySerializer,
)


def _valid(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _query(request: Request) -> dict[str, Any]:
    # ListFields read every value of a repeated parameter (?change=a&change=b).
    return {key: values if key == "change" else values[-1] for key, values in request.query_params.lists()}


def _json_object(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise BadRequest("The body must be a JSON object.")
    return dict(request.data)


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    return envelope(f"No endpoint {request.path}.", status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return envelope("The agent failed unexpectedly; see its log.", status=500)


class HealthView(APIView):
    """Up or not, the version, and whether Docker answers; no authentication, nothing else."""

    def get(self, request: Request) -> AgentResponse:
        return AgentResponse(
            {"status": "ok", "version": __version__, "docker": docker_answers(settings.AGENT)}
        )


class SystemStatsView(APIView):
    def get(self, request: Request) -> AgentResponse:
        config = settings.AGENT
        with translate_errors("Reading Docker's figures"):
            info = system.docker_facts(get_client(config).info)
        return AgentResponse(
            {
                "cpu": system.cpu_figures(),
                "memory": system.memory_figures(),
                "disk": {
                    "workspace": system.disk_figures(config.workspace_root),
                    "docker": system.disk_figures(info.get("DockerRootDir")),
                },
                "gpus": system.gpus(),
                "containers": containers.container_counts(config=config),
                "docker_version": info.get("ServerVersion"),
            }
        )


class FolderListView(APIView):
    def get(self, request: Request) -> AgentResponse:
        return AgentResponse({"names": folders.folder_list(config=settings.AGENT)})


class FolderDetailView(APIView):
    """A workspace folder by name: its size (GET), made from the template (PUT), removed (DELETE)."""

    def get(self, request: Request, name: str) -> AgentResponse:
        return AgentResponse(folders.folder_info(config=settings.AGENT, name=name))

    def put(self, request: Request, name: str) -> AgentResponse:
        data = folders.folder_create(config=settings.AGENT, name=name)
        if data["created"]:
            return AgentResponse(data, status=201, message="Folder created from the template.")
        return AgentResponse(data, message="The folder exists already; kept as it is.")

    def delete(self, request: Request, name: str) -> AgentResponse:
        data = folders.folder_delete(config=settings.AGENT, name=name)
        return AgentResponse(data, message="Folder deleted.")


class FolderArchiveView(APIView):
    """A workspace folder as a tar, to move it to another host (GET here, PUT there). The tar's
    SHA-256 is in `X-Archive-SHA256`: the platform signs its PUT with it, so the receiving agent
    checks every byte it unpacks."""

    def get(self, request: Request, name: str) -> FileResponse:
        archive, size, digest = folders.folder_archive(config=settings.AGENT, name=name)
        response = FileResponse(archive, content_type="application/x-tar")
        response.block_size = 1024 * 1024  # Django's 4 KiB blocks would cost a GB 256,000 writes
        response["Content-Length"] = str(size)
        response["X-Archive-SHA256"] = digest
        return response

    def put(self, request: Request, name: str) -> AgentResponse:
        body = request.agent_body  # read as it arrives when the signer named its digest (auth.py)
        check = body.check if isinstance(body, CheckedBody) else (lambda: None)
        data = folders.folder_unpack(config=settings.AGENT, name=name, archive=body, check=check)
        return AgentResponse(data, status=201, message="Folder unpacked.")


class ContainerListView(APIView):
    def get(self, request: Request) -> AgentResponse:
        return AgentResponse(containers.container_list(config=settings.AGENT))

    def post(self, request: Request) -> AgentResponse:
        data, created = containers.container_create(config=settings.AGENT, request=_json_object(request))
        if created:
            return AgentResponse(data, status=201, message="Container created and started.")
        return AgentResponse(data, message="The container already exists.")


class ContainerDetailView(APIView):
    def get(self, request: Request, ident: str) -> AgentResponse:
        return AgentResponse(
            containers.container_data(containers.container_get(config=settings.AGENT, ident=ident))
        )


class ContainerActionView(APIView):
    def post(self, request: Request, ident: str, action: str) -> AgentResponse:
        if action == "delete":
            return AgentResponse(containers.container_delete(config=settings.AGENT, ident=ident))
        query = _valid(ActionQuerySerializer, _query(request))
        data = containers.container_action(
            config=settings.AGENT, ident=ident, action=action, timeout=query["timeout"]
        )
        return AgentResponse(data)


class ContainerPortsView(APIView):
    def get(self, request: Request, ident: str) -> AgentResponse:
        container = containers.container_get(config=settings.AGENT, ident=ident)
        return AgentResponse(containers.ports_of(container))


class ContainerLogsView(APIView):
    def get(self, request: Request, ident: str) -> AgentResponse:
        query = _valid(LogsQuerySerializer, _query(request))
        return AgentResponse(
            containers.container_logs(
                config=settings.AGENT, ident=ident, tail=query["tail"], after=query["after"]
            )
        )


class ContainerStatsView(APIView):
    def get(self, request: Request, ident: str) -> AgentResponse:
        return AgentResponse(containers.container_stats(config=settings.AGENT, ident=ident))


class ImageListView(APIView):
    def get(self, request: Request) -> AgentResponse:
        return AgentResponse(images.image_list(config=settings.AGENT))


class ImageDetailView(APIView):
    def get(self, request: Request, ident: str) -> AgentResponse:
        return AgentResponse(images.image_get(config=settings.AGENT, ident=ident))

    def delete(self, request: Request, ident: str) -> AgentResponse:
        query = _valid(DeleteImageQuerySerializer, _query(request))
        return AgentResponse(images.image_delete(config=settings.AGENT, ident=ident, force=query["force"]))


class ImagePullView(APIView):
    def post(self, request: Request) -> AgentResponse:
        data = _valid(ImageTransferSerializer, _json_object(request))
        image = images.image_pull(config=settings.AGENT, image=data["image"], registry=data.get("registry"))
        return AgentResponse(image, message=f"Pulled {data['image']}.")


class ImagePushView(APIView):
    def post(self, request: Request) -> StreamingHttpResponse:
        data = _valid(ImageTransferSerializer, _json_object(request))
        events = images.image_push(config=settings.AGENT, image=data["image"], registry=data.get("registry"))
        return StreamingHttpResponse(images.ndjson(events), content_type="application/x-ndjson")


class ImageBuildView(APIView):
    def post(self, request: Request) -> StreamingHttpResponse:
        data = _valid(BuildSerializer, request.data)
        events = images.image_build(
            config=settings.AGENT,
            tag=data["tag"],
            dockerfile=data.get("dockerfile"),
            context=data.get("context"),
        )
        return StreamingHttpResponse(images.ndjson(events), content_type="application/x-ndjson")


class ImageImportView(APIView):
    def post(self, request: Request) -> AgentResponse:
        query = _valid(ImportQuerySerializer, _query(request))
        image = images.image_import(
            config=settings.AGENT, tag=query["tag"], body=request.agent_body, changes=query.get("change", [])
        )
        return AgentResponse(image, status=201, message=f"Imported {query['tag']}.")
