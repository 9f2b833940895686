from django.contrib import admin

from .models import GuestUpload


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
