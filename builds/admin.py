from django.contrib import admin, messages
from django.template.loader import render_to_string

from events.selectors import events_last_id
from events.services import job_key
from mgmt.admin_mixins import ServiceErrorsAdminMixin
from mgmt.exceptions import ApplicationError

from .models import Build, BuildLogLine, GuestUpload, Project
from .selectors import build_log_text
from .services import builds as build_services
from .services.projects import (
    project_create,
    project_delete,
    project_member_add,
    project_member_remove,
    project_update,
)
from .services.uploads import upload_delete


@admin.register(GuestUpload)
class GuestUploadAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = ("filename", "kind", "size", "received", "status", "created_by", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("filename", "sha256")
    readonly_fields = [f.name for f in GuestUpload._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # uploads arrive through the chunked API

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj: GuestUpload) -> None:
        upload_delete(upload=obj, actor=request.user)  # removes the file and audits

    def delete_queryset(self, request, queryset) -> None:
        for upload in queryset:
            upload_delete(upload=upload, actor=request.user)


class BuildLogInline(admin.TabularInline):
    model = BuildLogLine
    fields = ("number", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Build)
class BuildAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "reference",
        "status",
        "server",
        "project",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "source", "project")
    search_fields = ("reference", "repository")
    readonly_fields = [f.name for f in Build._meta.fields] + ["live_log"]
    actions = ["cancel_builds"]

    def get_queryset(self, request):
        return Build.objects.visible_to(request.user)  # a qvp: their projects' and own builds

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # builds are queued through the API

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the build history is kept; the API has no delete either

    @admin.display(description="Log")
    def live_log(self, obj: Build) -> str:
        """The log so far, then, while the build runs, its live stream (events/) as it comes."""
        # The stream's position first, then the stored log: a line in between shows twice, never
        # not at all.
        after = events_last_id(job=job_key("build", obj.pk))
        events_url = "" if obj.is_final else f"/events/build/{obj.pk}?after={after}"
        return render_to_string(
            "admin/builds/live_log.html", {"log": build_log_text(build=obj), "events_url": events_url}
        )

    @admin.action(description="Cancel the selected builds")  # build_images, as in the API
    def cancel_builds(self, request, queryset) -> None:
        for build in queryset:
            if build.is_final:
                continue
            try:
                build_services.build_cancel(actor=request.user, build=build)
            except ApplicationError as exc:  # e.g. it finished meanwhile
                self.message_user(request, f"{build.reference}: {exc.message}", messages.ERROR)


@admin.register(Project)
class ProjectAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Projects and their members, through the same services (and audit rows) as the API; members
    get their object permissions there, never from an object-permission page."""

    list_display = ("name", "description", "created_by", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("members",)
    fields = ("name", "description", "members")

    def get_readonly_fields(self, request, obj: Project | None = None) -> tuple[str, ...]:
        return ("name",) if obj is not None else ()  # the API does not rename either

    def save_model(self, request, obj: Project, form, change: bool) -> None:
        description = form.cleaned_data.get("description", "")
        if change:
            project = Project.objects.get(pk=obj.pk)
            if description != project.description:
                project_update(actor=request.user, project=project, description=description)
        else:
            project = project_create(actor=request.user, name=obj.name, description=description)
        wanted = set(form.cleaned_data.get("members", []))
        current = set(project.members.all())
        for user in sorted(wanted - current, key=lambda u: u.pk):
            project_member_add(actor=request.user, project=project, user=user)
        for user in sorted(current - wanted, key=lambda u: u.pk):
            project_member_remove(actor=request.user, project=project, user=user)
        obj.pk = project.pk

    def save_related(self, request, form, formsets, change: bool) -> None:
        pass  # members were set by save_model through the services

    def delete_model(self, request, obj: Project) -> None:
        project_delete(actor=request.user, project=obj)

    def delete_queryset(self, request, queryset) -> None:
        for project in queryset:
            project_delete(actor=request.user, project=project)
