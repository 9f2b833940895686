from django.urls import path

from .views import TrafficView

app_name = "traffic"

urlpatterns = [
    path("admin/traffic", TrafficView.as_view(), name="traffic"),
]
