from django.urls import path

from .views import LoginView, LogoutView, MeView, RegisterView, UserViewSet

app_name = "accounts"

urlpatterns = [
    path("auth/register", RegisterView.as_view(), name="register"),
    path("auth/login", LoginView.as_view(), name="login"),
    path("auth/logout", LogoutView.as_view(), name="logout"),
    path("auth/me", MeView.as_view(), name="me"),
    path("admin/users", UserViewSet.as_view({"get": "list"}), name="admin-user-list"),
    path(
        "admin/users/<int:pk>/reset-password",
        UserViewSet.as_view({"post": "reset_password"}),
        name="admin-user-reset-password",
    ),
    path("admin/users/<int:pk>/reject", UserViewSet.as_view({"post": "reject"}), name="admin-user-reject"),
    path(
        "users/<int:pk>",
        UserViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="user-detail",
    ),
]
