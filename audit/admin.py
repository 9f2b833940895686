from django.contrib import admin

from mgmt.pagination import CappedCountPaginator

from .models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only.

    Sized for millions of rows: no full COUNT(*) (the count stops at COUNT_CAP; the filters, the
    date filter and the search narrow the list), and no date hierarchy (its year and month links
    are a DISTINCT over every row); the `created_at` filter narrows by date instead.
    """

    list_display = ("created_at", "username", "action_type", "log_level", "source", "target_repr")
    list_filter = ("log_level", "source", "action_type", "created_at")
    search_fields = ("username", "action_type", "target_repr", "ip_address", "request_id")
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
