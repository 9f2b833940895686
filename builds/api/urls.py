from mgmt.api.routers import OptionalSlashRouter

from .builds import BuildViewSet
from .projects import ProjectViewSet
from .uploads import UploadViewSet

app_name = "builds"

router = OptionalSlashRouter()
router.register("uploads", UploadViewSet, basename="upload")
router.register("projects", ProjectViewSet, basename="project")
router.register("builds", BuildViewSet, basename="build")
urlpatterns = router.urls
