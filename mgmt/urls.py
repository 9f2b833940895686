from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mgmt.api.views import HealthView, NotFoundView
from servers.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/health", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/", include("accounts.api.urls")),
    path("api/", include("audit.api.urls")),
    path("api/", include("servers.api.urls")),
    path("api/", include("containers.api.urls")),
    path("api/", include("registry.api.urls")),
    path("api/", include("builds.api.urls")),
    path("api/", include("maintenance.api.urls")),
    path("api-auth/", include("rest_framework.urls")),
    re_path(r"^api/", NotFoundView.as_view()),
]
