from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    verbose_name = "Builds and uploads"

    def ready(self) -> None:
        from accounts.permissions import user_has_permission
        from events.selectors import register_job_kind

        from .models import Build
        from .selectors import upload_list

        # A build's live log (events/) is for whoever may see the build (its projects' operators).
        register_job_kind("build", lambda user, pk: Build.objects.visible_to(user).filter(pk=pk).exists())
        # An upload's import progress is for whoever may see uploads (view_images, as the API).
        register_job_kind(
            "upload",
            lambda user, pk: (
                user_has_permission(user, "view_images") and upload_list().filter(pk=pk).exists()
            ),
        )
