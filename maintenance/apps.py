from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Cleanup and reconciliation"

    def ready(self) -> None:
        from events.selectors import register_job_kind

        from .models import ReconcileRun

        # A reconcile run's live stream (events/) is for whoever may read the runs.
        register_job_kind(
            "reconcile",
            lambda user, pk: (
                user.has_perm("maintenance.view_reconcilerun") and ReconcileRun.objects.filter(pk=pk).exists()
            ),
        )
