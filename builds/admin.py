from django.contrib import admin

from .models import GuestUpload
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
