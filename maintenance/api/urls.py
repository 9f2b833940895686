from django.urls import path

from .views import ReconcileRunListView, ReconcileView

app_name = "maintenance"

urlpatterns = [
    path("admin/reconcile", ReconcileView.as_view(), name="reconcile"),
    path("admin/reconcile/runs", ReconcileRunListView.as_view(), name="reconcile-runs"),
]
