from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.forms import ActiveAccountAuthenticationForm
from accounts.pages import login_page, logout_page, register_page
from containers.edge_views import edge_authorize, edge_callback, edge_verify, workspace_path_redirect
from containers.pages import workspace_action_page, workspace_page
from mgmt.admin_dashboard import admin_dashboard
from mgmt.api.views import ApiRootView, HealthView, NotFoundView
from traffic.metrics import metrics_view

# DRF's rest_framework.urls, with a login form that lets only active accounts in.
api_auth_urls = (
    [
        path(
            "login/",
            auth_views.LoginView.as_view(
                template_name="rest_framework/login.html", authentication_form=ActiveAccountAuthenticationForm
            ),
            name="login",
        ),
        path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    ],
    "rest_framework",
)

urlpatterns = [
    # The admin's index is the operators' dashboard (the app list is below it).
    path("admin/", admin.site.admin_view(admin_dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    # Pages for people (server-rendered).
    path("", RedirectView.as_view(url="/workspace", permanent=False)),
    path("register", register_page, name="page-register"),
    path("login", login_page, name="page-login"),
    path("logout", logout_page, name="page-logout"),
    path("workspace", workspace_page, name="page-workspace"),
    path("workspace/<str:action>", workspace_action_page, name="page-workspace-action"),
    path("api/", ApiRootView.as_view(), name="api-root"),
    # A typed-in address without its slash (APPEND_SLASH never reaches /api/: the catch-all answers).
    path(
        "api/docs",
        RedirectView.as_view(url="/api/docs/", permanent=True, http_method_names=["get", "head"]),
        name="api-docs-redirect",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # An HTML page, GET only (DRF's OPTIONS would fail in its template renderer).
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="api-docs",
    ),
    path("api/health", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/", include("accounts.api.urls")),
    path("api/", include("audit.api.urls")),
    path("api/", include("servers.api.urls")),
    path("api/", include("traffic.api.urls")),
    path("api/", include("containers.api.urls")),
    path("api/", include("registry.api.urls")),
    path("api/", include("builds.api.urls")),
    path("api/", include("maintenance.api.urls")),
    path("api-auth/", include(api_auth_urls)),
    re_path(r"^api/", NotFoundView.as_view()),
    # Live progress of long jobs (events/views.py: Server-Sent Events).
    path("", include("events.urls")),
    # The workspace edge (containers/edge.py).
    path("edge/authorize", edge_authorize, name="edge-authorize"),
    path("edge/callback", edge_callback, name="edge-callback"),
    path("edge/verify", edge_verify, name="edge-verify"),
    re_path(
        r"^(?P<username>[a-z][a-z0-9-]{1,30}[a-z0-9])/(?P<app>vscode|jupyter)(?:/.*)?$",
        workspace_path_redirect,
        name="workspace-path-redirect",
    ),
]
