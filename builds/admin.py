from django.contrib import admin
from django.utils.html import escape
from django.utils.safestring import mark_safe
from guardian.admin import GuardedModelAdmin

from .models import Build, BuildLogLine, GuestUpload, Project
from .selectors import build_log_text
from .services import build_cancel
from .uploads import upload_delete


@admin.register(GuestUpload)
class GuestUploadAdmin(admin.ModelAdmin):
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
class BuildAdmin(admin.ModelAdmin):
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

    @admin.display(description="Log")
    def live_log(self, obj: Build) -> str:
        """The whole log; while the build runs the page reloads itself every few seconds."""
        text = escape(build_log_text(build=obj))
        refresh = "" if obj.is_final else "<script>setTimeout(() => location.reload(), 3000)</script>"
        return mark_safe(  # noqa: S308 - the log text is escaped above
            f'<pre style="max-height:40em;overflow:auto;white-space:pre-wrap">{text}</pre>{refresh}'
        )

    @admin.action(description="Cancel the selected builds")
    def cancel_builds(self, request, queryset) -> None:
        for build in queryset:
            if not build.is_final:
                build_cancel(actor=request.user, build=build)


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    list_display = ("name", "description", "created_by", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("members",)
