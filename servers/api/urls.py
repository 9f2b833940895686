from django.urls import path

from mgmt.api.routers import OptionalSlashRouter

from .views import ServerViewSet, TrafficView

app_name = "servers"

router = OptionalSlashRouter()
router.register("servers", ServerViewSet, basename="server")

urlpatterns = [
    path("admin/traffic", TrafficView.as_view(), name="traffic"),
    *router.urls,
]
