from django.urls import path

from mgmt.api.routers import OptionalSlashRouter

from .views import (
    AllowedImageViewSet,
    ImagesOverviewView,
    RegistryViewSet,
    ServerImagePullView,
    ServerImagesView,
)

app_name = "registry"

router = OptionalSlashRouter()
router.register("registries", RegistryViewSet, basename="registry")
router.register("allowed-images", AllowedImageViewSet, basename="allowed-image")

urlpatterns = [
    path("servers/<int:server_id>/images", ServerImagesView.as_view(), name="server-images"),
    path("servers/<int:server_id>/images/pull", ServerImagePullView.as_view(), name="server-images-pull"),
    path("images/overview", ImagesOverviewView.as_view(), name="images-overview"),
    *router.urls,
]
