"""What every operator page shares: a service's refusal is shown, not raised; secrets are write-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from mgmt.exceptions import ApplicationError

_REFUSAL = "_service_refusal"  # request attribute: the refusal to show on the form's second pass


class ServiceErrorsAdminMixin:
    """A service's refusal (`mgmt.exceptions.ApplicationError`) in a save, a delete or an action
    becomes a form error or an error message; never a 500 that loses what the operator typed."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except ApplicationError as exc:
            if request.method != "POST" or hasattr(request, _REFUSAL):
                raise
            # changeform_view is atomic, so the refused save left nothing behind: run it again
            # with a form that fails validation with the service's reason (and keeps the input).
            setattr(request, _REFUSAL, exc.message)
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        refusal = getattr(request, _REFUSAL, None)
        if refusal is None:
            return form_class

        def clean(form: forms.ModelForm) -> NoReturn:
            form_class.clean(form)
            raise forms.ValidationError(refusal)

        return type(form_class.__name__, (form_class,), {"clean": clean})

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)  # type: ignore[attr-defined]
            opts = self.model._meta  # type: ignore[attr-defined]
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            )

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        try:
            return super().response_action(request, queryset)  # type: ignore[misc]
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.get_full_path())


# --- write-only secrets ---------------------------------------------------------------------------
class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value, not even the one just submitted (SSH keys)."""

    def format_value(self, value: Any) -> None:
        return None


def secret_field(label: str, *, multiline: bool = False) -> forms.CharField:
    """A form field that takes a new secret: never rendered back; left empty, the stored one stays."""
    widget = SecretTextarea(attrs={"rows": 4}) if multiline else forms.PasswordInput(render_value=False)
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=widget,
        help_text="Write-only: leave empty to keep the stored value.",
    )


def secret_state(attr: str, label: str) -> Callable[[Any, Model], str]:
    """A read-only admin field that says whether the model's `attr` holds a secret, never what."""

    @admin.display(description=label)
    def state(self: Any, obj: Model) -> str:
        return "set" if getattr(obj, attr, "") else "not set"

    return state


class WriteOnlySecretsAdminMixin:
    """`secret_inputs` names the form fields that take new secrets. A viewer who may not change the
    object sees only the read-only "set"/"not set" lines, not empty inputs."""

    secret_inputs: tuple[str, ...] = ()

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> list:
        return self.without_secret_inputs(request, obj, super().get_fieldsets(request, obj))  # type: ignore[misc]

    def without_secret_inputs(self, request: HttpRequest, obj: Model | None, fieldsets: list) -> list:
        if obj is None or self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in self.secret_inputs]})
            for name, options in fieldsets
        ]
