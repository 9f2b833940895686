from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import ServerViewSet, TrafficView

app_name = "servers"

router = SimpleRouter(trailing_slash=False)
router.register("servers", ServerViewSet, basename="server")

urlpatterns = [
    path("admin/traffic", TrafficView.as_view(), name="traffic"),
    *router.urls,
]
