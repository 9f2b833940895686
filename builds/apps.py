from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    verbose_name = "Builds and uploads"

    def ready(self) -> None:
        from events.selectors import register_job_kind

        from .models import Build

        # A build's live log (events/) is for whoever may see the build (its projects' operators).
        register_job_kind("build", lambda user, pk: Build.objects.visible_to(user).filter(pk=pk).exists())
