"""Thin API over the reconciler: the last run, the history, and starting a run."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.permissions import RequirePermission
from mgmt.api.renderers import APIResponse
from mgmt.exceptions import NotFound
from servers.models import Server

from .. import selectors, tasks
from . import serializers as s


class ReconcileView(APIView):
    """GET: the last reconcile run (null before the first). POST: queue a run (202)."""

    permission_classes = [RequirePermission("manage_servers")]

    @extend_schema(
        responses={
            200: OpenApiResponse(
                {"oneOf": [{"$ref": "#/components/schemas/ReconcileRunOutput"}, {"type": "null"}]},
                description="The last run; null before the first.",
            )
        }
    )
    def get(self, request: Request) -> APIResponse:
        run = selectors.reconcile_run_latest()
        if run is None:
            return APIResponse(None, message="The reconciler has not run yet.")
        return APIResponse(s.ReconcileRunOutput(run).data)

    @extend_schema(
        request=s.ReconcileStartInput,
        responses={
            202: inline_serializer(
                "ReconcileQueued",
                {
                    "dry_run": serializers.BooleanField(),
                    "server_name": serializers.CharField(),
                    "trigger": serializers.CharField(),
                },
            ),
            404: OpenApiResponse(description="No server has that name."),
        },
    )
    def post(self, request: Request) -> APIResponse:
        form = s.ReconcileStartInput(data=request.data)
        form.is_valid(raise_exception=True)
        server = form.validated_data["server"]
        if server and not Server.objects.filter(name=server).exists():
            raise NotFound(f"No server named {server!r}.")
        args = {"dry_run": form.validated_data["dry_run"], "server_name": server, "trigger": "api"}
        transaction.on_commit(lambda: tasks.reconcile_task.delay(**args))
        return APIResponse(
            args, status=202, message="Reconcile run queued; GET /api/admin/reconcile shows its result."
        )


class ReconcileRunListView(ListAPIView):
    """Past reconcile runs, newest first."""

    permission_classes = [RequirePermission("manage_servers")]
    serializer_class = s.ReconcileRunOutput

    def get_queryset(self):
        return selectors.reconcile_run_list()
