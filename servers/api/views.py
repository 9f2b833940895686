"""Thin API over servers: validate, call one service or selector, serialize."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request

from accounts.permissions import ActionPermissionMixin
from mgmt.api.renderers import APIResponse
from mgmt.api.schema import CONFLICT_ERROR, UPSTREAM_ERROR

from .. import selectors
from ..models import Server
from ..services import hosts, ssh, stats
from . import serializers as s

# Which matrix permission each action needs.
_ACTION_PERMISSIONS = {
    "list": "view_servers",
    "retrieve": "view_servers",
    "stats": "view_servers",
    "create": "manage_servers",
    "partial_update": "manage_servers",
    "drain": "manage_servers",
    "undrain": "manage_servers",
    "refresh": "manage_servers",
    "ssh_check": "manage_servers",
    "ssh_diagnose": "manage_servers",
    "ssh_pin_host_key": "manage_servers",
    "agent_restart": "manage_servers",
    "agent_install": "manage_servers",
    "destroy": "delete_server",
}


_SSH_ERRORS = {409: CONFLICT_ERROR, 503: UPSTREAM_ERROR}
_DELETED = inline_serializer(
    "ServerDeleted",
    {"left_behind": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)


class ServerViewSet(ActionPermissionMixin, viewsets.GenericViewSet):
    """Docker hosts: register, change, drain, poll, SSH actions; secrets are write-only."""

    queryset = Server.objects.all()
    serializer_class = s.ServerOutput

    action_permissions = _ACTION_PERMISSIONS
    default_action_permission = "manage_servers"

    def _out(self, server: Server, *, live: bool = True) -> dict:
        context = (
            {"live": {k: asdict(v) for k, v in selectors.servers_stats_fetch([server]).items()}}
            if live
            else {}
        )
        return s.ServerOutput(server, context=context).data

    @extend_schema(responses=s.ServerOutput(many=True))
    def list(self, request: Request) -> APIResponse:
        """Every server with its current stats (fetched in parallel, cached for SERVER_STATS_TTL)."""
        page = self.paginate_queryset(self.get_queryset())
        live = selectors.servers_stats_fetch(page)
        data = s.ServerOutput(page, many=True, context={"live": {k: asdict(v) for k, v in live.items()}}).data
        return self.get_paginated_response(data)

    @extend_schema(responses=s.ServerOutput)
    def retrieve(self, request: Request, pk: str) -> APIResponse:
        return APIResponse(self._out(self.get_object()))

    @extend_schema(request=s.ServerRegisterInput, responses={201: s.ServerOutput})
    def create(self, request: Request) -> APIResponse:
        form = s.ServerRegisterInput(data=request.data)
        form.is_valid(raise_exception=True)
        server = hosts.server_register(actor=request.user, **form.validated_data)
        return APIResponse(
            self._out(server, live=False), status=201, message=f"Server {server.name} registered."
        )

    @extend_schema(request=s.ServerUpdateInput, responses=s.ServerOutput)
    def partial_update(self, request: Request, pk: str) -> APIResponse:
        form = s.ServerUpdateInput(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        server = hosts.server_update(actor=request.user, server=self.get_object(), **form.validated_data)
        return APIResponse(self._out(server, live=False), message=f"Server {server.name} updated.")

    @extend_schema(parameters=[s.DeleteQuery], responses={200: _DELETED})
    def destroy(self, request: Request, pk: str) -> APIResponse:
        query = s.DeleteQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        outcome = hosts.server_delete(
            actor=request.user, server=self.get_object(), force=query.validated_data["force"]
        )
        message = f"Server {outcome.server_name} deleted."
        if outcome.left_behind:
            left = "; ".join(f"{len(v)} {k}" for k, v in outcome.left_behind.items())
            message += f" Left behind (no longer attached to a server): {left}."
        return APIResponse({"left_behind": outcome.left_behind}, message=message)

    @extend_schema(request=None, responses=s.ServerOutput)
    @action(detail=True, methods=["post"])
    def drain(self, request: Request, pk: str) -> APIResponse:
        server = hosts.server_drain(actor=request.user, server=self.get_object(), drain=True)
        return APIResponse(self._out(server, live=False), message=f"Server {server.name} is draining.")

    @extend_schema(request=None, responses=s.ServerOutput)
    @action(detail=True, methods=["post"])
    def undrain(self, request: Request, pk: str) -> APIResponse:
        server = hosts.server_drain(actor=request.user, server=self.get_object(), drain=False)
        server.refresh_from_db()
        return APIResponse(
            self._out(server, live=False), message=f"Server {server.name} takes workspaces again."
        )

    @extend_schema(request=None, responses=s.ServerOutput)
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str) -> APIResponse:
        """Poll this server now instead of waiting for the periodic task."""
        server = self.get_object()
        stats.servers_poll(server_ids=[server.pk])
        server.refresh_from_db()
        return APIResponse(self._out(server))

    @extend_schema(parameters=[s.HistoryQuery], responses=s.ServerStatsOutput(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def stats(self, request: Request, pk: str) -> APIResponse:
        """Stats history (oldest first) over the last `hours` hours."""
        query = s.HistoryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.server_stats_history(server=self.get_object(), hours=query.validated_data["hours"])
        return APIResponse(s.ServerStatsOutput(rows, many=True).data)

    @extend_schema(request=None, responses={200: s.CommandResultOutput, **_SSH_ERRORS})
    @action(detail=True, methods=["post"], url_path="ssh/check")
    def ssh_check(self, request: Request, pk: str) -> APIResponse:
        result = ssh.server_ssh_check(actor=request.user, server=self.get_object())
        return APIResponse(asdict(result), message="SSH works.")

    @extend_schema(request=s.DiagnoseInput, responses={200: s.CommandResultOutput, **_SSH_ERRORS})
    @action(detail=True, methods=["post"], url_path="ssh/diagnose")
    def ssh_diagnose(self, request: Request, pk: str) -> APIResponse:
        form = s.DiagnoseInput(data=request.data)
        form.is_valid(raise_exception=True)
        result = ssh.server_ssh_diagnose(
            actor=request.user, server=self.get_object(), check=form.validated_data["check"]
        )
        return APIResponse(asdict(result))

    @extend_schema(request=s.PinHostKeyInput, responses={200: s.ServerOutput, **_SSH_ERRORS})
    @action(detail=True, methods=["post"], url_path="ssh/pin-host-key")
    def ssh_pin_host_key(self, request: Request, pk: str) -> APIResponse:
        form = s.PinHostKeyInput(data=request.data)
        form.is_valid(raise_exception=True)
        server = ssh.server_ssh_pin_host_key(
            actor=request.user, server=self.get_object(), expected=form.validated_data["expected"]
        )
        return APIResponse(
            self._out(server, live=False), message=f"Pinned {server.ssh_host_key_fingerprint}."
        )

    @extend_schema(request=None, responses={200: s.CommandResultOutput, **_SSH_ERRORS})
    @action(detail=True, methods=["post"], url_path="agent/restart")
    def agent_restart(self, request: Request, pk: str) -> APIResponse:
        result = ssh.server_agent_restart(actor=request.user, server=self.get_object())
        return APIResponse(asdict(result))

    @extend_schema(request=None, responses={200: s.CommandResultOutput, **_SSH_ERRORS})
    @action(detail=True, methods=["post"], url_path="agent/install")
    def agent_install(self, request: Request, pk: str) -> APIResponse:
        result = ssh.server_agent_install(actor=request.user, server=self.get_object())
        return APIResponse(asdict(result))
