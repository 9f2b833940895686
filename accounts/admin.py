from django.contrib import admin

from .models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("username", "email", "user_type", "status", "is_approved", "created_at")
    list_filter = ("user_type", "status", "is_approved")
    search_fields = ("username", "email")
    exclude = ("password",)
