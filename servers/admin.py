"""Operator pages for servers and their stats history (as charts).

Every change goes through servers.services, exactly as the API does; secrets
are write-only fields that are never rendered back (the page says only whether
each is set).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.roles import MatrixModelAdmin
from audit.models import AuditSource
from mgmt.admin_mixins import ServiceErrorsAdminMixin, WriteOnlySecretsAdminMixin, secret_field, secret_state
from mgmt.exceptions import ApplicationError

from . import selectors
from .charts import svg_line_chart
from .models import Server, ServerStats
from .services import hosts, ssh, stats


class ServerForm(forms.ModelForm):
    new_agent_secret = secret_field("New agent secret")
    new_ssh_private_key = secret_field("New SSH private key", multiline=True)
    new_ssh_password = secret_field("New SSH password")

    plain_fields = (
        "name",
        "address",
        "agent_port",
        "agent_tls",
        "ssh_user",
        "ssh_port",
        "ssh_host_key_fingerprint",
        "labels",
    )

    class Meta:
        model = Server
        fields = [
            "name",
            "address",
            "agent_port",
            "agent_tls",
            "ssh_user",
            "ssh_port",
            "ssh_host_key_fingerprint",
            "labels",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance.pk is None and not data.get("new_agent_secret"):
            self.add_error("new_agent_secret", "The agent's shared secret is required.")
        try:
            hosts.validate_address(data.get("address", ""))
            hosts.validate_server_name(data.get("name", ""))
            hosts.validate_fingerprint(data.get("ssh_host_key_fingerprint", ""))
            hosts.validate_labels(data.get("labels") or {})
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        fields = {k: data[k] for k in self.plain_fields if k in data}
        fields["labels"] = fields.get("labels") or {}
        for name in ("agent_secret", "ssh_private_key", "ssh_password"):
            fields[name] = data.get(f"new_{name}", "")
        return fields


class _MatrixAdmin(ServiceErrorsAdminMixin, MatrixModelAdmin):
    view_permission = "view_servers"
    add_permission = "manage_servers"
    change_permission = "manage_servers"
    delete_permission = "delete_server"


@admin.register(Server)
class ServerAdmin(WriteOnlySecretsAdminMixin, _MatrixAdmin):
    form = ServerForm
    secret_inputs = ("new_agent_secret", "new_ssh_private_key", "new_ssh_password")
    list_display = [
        "name",
        "address",
        "agent_port",
        "status",
        "last_seen",
        "cpu_count",
        "memory_gib",
        "gpu_count",
    ]
    list_filter = ["status"]
    search_fields = ["name", "address"]
    actions = ["drain", "undrain", "refresh", "ssh_check"]  # "change" = manage_servers, as in the API
    readonly_fields = [
        "status",
        "status_detail",
        "last_seen",
        "capacity",
        "history_charts",
        "agent_secret_state",
        "ssh_private_key_state",
        "ssh_password_state",
    ]
    agent_secret_state = secret_state("agent_secret", "agent secret")
    ssh_private_key_state = secret_state("ssh_private_key", "SSH private key")
    ssh_password_state = secret_state("ssh_password", "SSH password")

    def get_fieldsets(self, request: HttpRequest, obj: Server | None = None) -> list:
        agent = ["name", "address", "agent_port", "agent_tls", "new_agent_secret"]
        ssh = ["ssh_user", "ssh_port", "ssh_host_key_fingerprint", "new_ssh_private_key", "new_ssh_password"]
        if obj is not None:
            agent.insert(4, "agent_secret_state")
            ssh[3:3] = ["ssh_private_key_state", "ssh_password_state"]
        sets = [("Agent", {"fields": agent}), ("SSH", {"fields": ssh}), ("Labels", {"fields": ["labels"]})]
        if obj is not None:
            sets.append(("State", {"fields": ["status", "status_detail", "last_seen", "capacity"]}))
            sets.append(("Last 24 hours", {"fields": ["history_charts"]}))
        return self.without_secret_inputs(request, obj, sets)

    @admin.display(description="memory (GiB)")
    def memory_gib(self, obj: Server) -> str:
        return f"{obj.memory_total / 2**30:.1f}" if obj.memory_total else "-"

    @admin.display(description="capacity")
    def capacity(self, obj: Server) -> str:
        disk = f"{obj.disk_total / 2**30:.0f} GiB disk" if obj.disk_total else "disk unknown"
        cpus, gpus = obj.cpu_count or "?", obj.gpu_count or 0
        return f"{cpus} CPUs, {self.memory_gib(obj)} GiB memory, {disk}, {gpus} GPUs"

    @admin.display(description="history")
    def history_charts(self, obj: Server) -> str:
        rows = list(selectors.server_stats_history(server=obj, hours=24))
        charts = [
            svg_line_chart([(r.at, r.cpu_percent) for r in rows], title="CPU", unit="%", max_value=100),
            svg_line_chart([(r.at, r.memory_percent) for r in rows], title="Memory", unit="%", max_value=100),
            svg_line_chart(
                [(r.at, r.disk_percent) for r in rows], title="Disk (workspaces)", unit="%", max_value=100
            ),
            svg_line_chart(
                [(r.at, r.gpu_util_percent) for r in rows], title="GPU utilisation", unit="%", max_value=100
            ),
            svg_line_chart(
                [
                    (r.at, float(r.containers_running) if r.containers_running is not None else None)
                    for r in rows
                ],
                title="Running containers",
            ),
        ]
        return format_html("<div>{}</div>", format_html("".join(["{}<br>"] * len(charts)), *charts))

    def save_model(self, request: HttpRequest, obj: Server, form: ServerForm, change: bool) -> None:
        fields = form.service_fields()
        if change:
            server = hosts.server_update(
                actor=request.user, server=Server.objects.get(pk=obj.pk), source=AuditSource.ADMIN, **fields
            )
        else:
            server = hosts.server_register(actor=request.user, source=AuditSource.ADMIN, **fields)
        obj.pk = obj.id = server.pk

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """What lives on a server shows as "protected": the admin refuses and lists it."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        protected = list(protected)
        for server in objs:
            for kind, items in selectors.server_dependents(server=server).items():
                protected += [f"{server.name}: {kind} {item}" for item in items]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Server) -> None:
        hosts.server_delete(actor=request.user, server=obj, source=AuditSource.ADMIN)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        for server in queryset:
            hosts.server_delete(actor=request.user, server=server, source=AuditSource.ADMIN)

    def _each(self, request: HttpRequest, queryset: QuerySet[Server], what: str, call: Any) -> None:
        for server in queryset:
            try:
                call(server)
            except ApplicationError as exc:
                self.message_user(request, f"{server.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{server.name}: {what}.", messages.SUCCESS)

    @admin.action(description="Drain (no new workspaces)", permissions=["change"])
    def drain(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        self._each(
            request,
            queryset,
            "draining",
            lambda s: hosts.server_drain(actor=request.user, server=s, drain=True, source=AuditSource.ADMIN),
        )
        for server in queryset:  # offer to move everyone off it
            if workspaces := selectors.server_dependents(server=server).get("workspaces"):
                listing = reverse("admin:containers_workspace_changelist") + f"?server__id__exact={server.pk}"
                self.message_user(
                    request,
                    format_html(
                        '{} still holds {} workspace(s): <a href="{}" class="ops-move-off">select them and '
                        '"Move to another host"</a>.',
                        server.name,
                        len(workspaces),
                        listing,
                    ),
                    messages.WARNING,
                )

    @admin.action(description="Undrain", permissions=["change"])
    def undrain(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        self._each(
            request,
            queryset,
            "takes workspaces again",
            lambda s: hosts.server_drain(actor=request.user, server=s, drain=False, source=AuditSource.ADMIN),
        )

    @admin.action(description="Poll stats now", permissions=["change"])
    def refresh(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        outcome = stats.servers_poll(server_ids=list(queryset.values_list("pk", flat=True)))
        for name, status in outcome.items():
            self.message_user(request, f"{name}: {status}.")

    @admin.action(description="Check SSH", permissions=["change"])
    def ssh_check(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        self._each(
            request,
            queryset,
            "SSH works",
            lambda s: ssh.server_ssh_check(actor=request.user, server=s, source=AuditSource.ADMIN),
        )


@admin.register(ServerStats)
class ServerStatsAdmin(_MatrixAdmin):
    """Read-only: the history is written by polling and pruned by the cleanup job (audited there)."""

    add_permission = change_permission = delete_permission = None
    list_display = ["server", "at", "cpu_percent", "memory_percent", "disk_percent", "containers_running"]
    list_filter = ["server"]
    date_hierarchy = "at"
