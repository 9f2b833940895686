from django import forms
from django.contrib import admin

from .models import AllowedImage, Registry
from .services import allowed_image_create, allowed_image_delete, allowed_image_update, registry_delete


class RegistryForm(forms.ModelForm):
    """The password field is write-only: left empty, the stored one is kept."""

    password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)

    class Meta:
        model = Registry
        fields = ["name", "url", "username", "password", "is_default", "verify_tls"]


@admin.register(Registry)
class RegistryAdmin(admin.ModelAdmin):
    form = RegistryForm
    list_display = ("name", "url", "username", "is_default", "verify_tls")

    def save_model(self, request, obj: Registry, form, change: bool) -> None:
        from .services import registry_create, registry_update

        data = {k: form.cleaned_data[k] for k in ("name", "url", "username", "is_default", "verify_tls")}
        if form.cleaned_data.get("password"):
            data["password"] = form.cleaned_data["password"]
        if change:
            registry_update(actor=request.user, registry=Registry.objects.get(pk=obj.pk), **data)
        else:
            obj.pk = registry_create(actor=request.user, **data).pk

    def delete_model(self, request, obj: Registry) -> None:
        registry_delete(actor=request.user, registry=obj)


@admin.register(AllowedImage)
class AllowedImageAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "is_default", "created_at")

    def save_model(self, request, obj: AllowedImage, form, change: bool) -> None:
        if change:
            allowed_image_update(
                actor=request.user, image=obj, description=obj.description, is_default=obj.is_default
            )
        else:
            obj.pk = allowed_image_create(
                actor=request.user, name=obj.name, description=obj.description, is_default=obj.is_default
            ).pk

    def delete_model(self, request, obj: AllowedImage) -> None:
        allowed_image_delete(actor=request.user, image=obj)
