from mgmt.api.routers import OptionalSlashRouter

from .views import ServerViewSet

app_name = "servers"

router = OptionalSlashRouter()
router.register("servers", ServerViewSet, basename="server")

urlpatterns = router.urls
