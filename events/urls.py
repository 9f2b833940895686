from django.urls import path

from .views import job_events

urlpatterns = [path("events/<slug:kind>/<slug:pk>", job_events, name="job-events")]
