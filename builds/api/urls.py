from mgmt.api.routers import OptionalSlashRouter

from .views import UploadViewSet

app_name = "builds"

router = OptionalSlashRouter()
router.register("uploads", UploadViewSet, basename="upload")
urlpatterns = router.urls
