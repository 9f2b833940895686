from django.urls import path

from .views import ApproveView, WorkspaceMoveView, WorkspaceViewSet

app_name = "containers"

urlpatterns = [
    path("admin/users/<int:pk>/approve", ApproveView.as_view(), name="user-approve"),
    path("workspaces", WorkspaceViewSet.as_view({"get": "list"}), name="workspace-list"),
    path("workspaces/<int:pk>", WorkspaceViewSet.as_view({"get": "retrieve"}), name="workspace-detail"),
    path("workspaces/<int:pk>/start", WorkspaceViewSet.as_view({"post": "start"}), name="workspace-start"),
    path("workspaces/<int:pk>/stop", WorkspaceViewSet.as_view({"post": "stop"}), name="workspace-stop"),
    path(
        "workspaces/<int:pk>/restart", WorkspaceViewSet.as_view({"post": "restart"}), name="workspace-restart"
    ),
    path("workspaces/<int:pk>/logs", WorkspaceViewSet.as_view({"get": "logs"}), name="workspace-logs"),
    path("workspaces/<int:pk>/move", WorkspaceMoveView.as_view(), name="workspace-move"),
]
