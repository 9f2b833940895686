from django import forms
from django.contrib import admin

from mgmt.admin_mixins import ServiceErrorsAdminMixin, WriteOnlySecretsAdminMixin, secret_field, secret_state

from . import services
from .models import AllowedImage, Registry


class RegistryForm(forms.ModelForm):
    """The stored password is never a form field: only a write-only input for a new one."""

    new_password = secret_field("New password")

    class Meta:
        model = Registry
        fields = ["name", "url", "username", "is_default", "verify_tls"]


@admin.register(Registry)
class RegistryAdmin(WriteOnlySecretsAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    form = RegistryForm
    secret_inputs = ("new_password",)
    list_display = ("name", "url", "username", "is_default", "verify_tls")
    readonly_fields = ("password_state",)
    password_state = secret_state("password", "password")

    def get_fields(self, request, obj: Registry | None = None) -> list[str]:
        fields = ["name", "url", "username", "password_state", "new_password", "is_default", "verify_tls"]
        return fields if obj is not None else [f for f in fields if f != "password_state"]

    def save_model(self, request, obj: Registry, form, change: bool) -> None:
        data = {k: form.cleaned_data[k] for k in ("name", "url", "username", "is_default", "verify_tls")}
        if form.cleaned_data.get("new_password"):
            data["password"] = form.cleaned_data["new_password"]
        if change:
            services.registry_update(actor=request.user, registry=Registry.objects.get(pk=obj.pk), **data)
        else:
            obj.pk = services.registry_create(actor=request.user, **data).pk

    def delete_model(self, request, obj: Registry) -> None:
        services.registry_delete(actor=request.user, registry=obj)

    def delete_queryset(self, request, queryset) -> None:
        for registry in queryset:
            services.registry_delete(actor=request.user, registry=registry)


@admin.register(AllowedImage)
class AllowedImageAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = ("name", "description", "is_default", "created_at")

    def get_readonly_fields(self, request, obj: AllowedImage | None = None) -> tuple[str, ...]:
        return ("name",) if obj is not None else ()  # as in the API: an image is renamed by a new entry

    def save_model(self, request, obj: AllowedImage, form, change: bool) -> None:
        if change:
            services.allowed_image_update(
                actor=request.user,
                image=AllowedImage.objects.get(pk=obj.pk),
                description=obj.description,
                is_default=obj.is_default,
            )
        else:
            obj.pk = services.allowed_image_create(
                actor=request.user, name=obj.name, description=obj.description, is_default=obj.is_default
            ).pk

    def delete_model(self, request, obj: AllowedImage) -> None:
        services.allowed_image_delete(actor=request.user, image=obj)

    def delete_queryset(self, request, queryset) -> None:
        for image in queryset:
            services.allowed_image_delete(actor=request.user, image=image)
