"""The platform's URLs plus one view that fails, to count a 5xx."""

from django.urls import path

from mgmt.urls import urlpatterns as platform_urlpatterns


def boom(request):
    raise RuntimeError("deliberate failure for the traffic test")


urlpatterns = [path("api/test/boom", boom), *platform_urlpatterns]
