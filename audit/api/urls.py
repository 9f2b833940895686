from django.urls import path

from .views import AuditLogExportView, AuditLogListView

app_name = "audit"

urlpatterns = [
    path("admin/audit-logs", AuditLogListView.as_view(), name="audit-log-list"),
    path("admin/audit-logs/export", AuditLogExportView.as_view(), name="audit-log-export"),
]
