from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html, format_html_join

from accounts.roles import MatrixModelAdmin
from mgmt.admin_mixins import ServiceErrorsAdminMixin

from . import services, tasks
from .models import CleanupPolicy, ReconcileRun


@admin.register(ReconcileRun)
class ReconcileRunAdmin(admin.ModelAdmin):
    """Read-only history of reconcile runs; every finding, its repair and the servers that did not answer."""

    list_display = ("started_at", "status", "dry_run", "server_name", "trigger", "differences", "skipped")
    list_filter = ("status", "dry_run", "trigger")
    readonly_fields = ("started_at", "finished_at", "status", "dry_run", "server_name", "trigger", "error")
    fields = (*readonly_fields, "findings_table", "unreachable_servers")
    actions = ["run_again"]

    @admin.display(description="differences")
    def differences(self, obj: ReconcileRun) -> int:
        return len(obj.findings)

    @admin.display(description="servers skipped")
    def skipped(self, obj: ReconcileRun) -> str:
        return ", ".join(u["server"] for u in obj.unreachable) or "-"

    @admin.display(description="findings")
    def findings_table(self, obj: ReconcileRun) -> str:
        if not obj.findings:
            return "No differences."
        columns = ("kind", "server", "subject", "detail", "action", "outcome")
        head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((f.get(c, ""),) for c in columns)),)
                for f in obj.findings
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.display(description="servers that did not answer")
    def unreachable_servers(self, obj: ReconcileRun) -> str:
        return format_html_join(
            "", "<div>{}: {}</div>", ((u["server"], u["reason"]) for u in obj.unreachable)
        )

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Run the reconciler again (same server and dry-run setting)")
    def run_again(self, request, queryset) -> None:
        for run in queryset[:5]:
            transaction.on_commit(
                lambda r=run: tasks.reconcile_task.delay(
                    dry_run=r.dry_run, server_name=r.server_name, trigger="admin"
                )
            )
        messages.info(request, "Reconcile run(s) queued; refresh this page for the result.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("maintenance.view_reconcilerun"):
            actions.pop("run_again", None)
        return actions


@admin.register(CleanupPolicy)
class CleanupPolicyAdmin(ServiceErrorsAdminMixin, MatrixModelAdmin):
    """The one row of cleanup switches (image pruning): servers' business, changed through the service."""

    view_permission = add_permission = change_permission = "manage_servers"
    list_display = ("__str__", "prune_unused_images", "image_prune_repositories", "updated_at")
    fields = ("prune_unused_images", "image_prune_repositories")

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not CleanupPolicy.objects.exists()

    def save_model(self, request, obj: CleanupPolicy, form, change: bool) -> None:
        policy = services.cleanup_policy_update(
            actor=request.user,
            prune_unused_images=form.cleaned_data["prune_unused_images"],
            image_prune_repositories=form.cleaned_data["image_prune_repositories"],
        )
        obj.pk = policy.pk
