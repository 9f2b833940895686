"""Input and output shapes of the accounts API (validation only; no business logic)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User, UserStatus, UserType
from accounts.validators import RESERVED_USERNAMES
from mgmt.api.query import QuerySerializer

# What the services accept, for the schema (the services check it and say what is wrong): a
# username is 3-32 of [a-z0-9-], no "--", not reserved; a password has Django's validators' length
# and is not all digits (similarity to the account and the common-passwords list stay unsaid).
USERNAME_SCHEMA = {
    "type": "string",
    "pattern": r"^(?!.*--)[a-z][a-z0-9-]{1,30}[a-z0-9]$",
    "maxLength": 32,
    "not": {"enum": sorted(RESERVED_USERNAMES)},
}
PASSWORD_SCHEMA = {
    "type": "string",
    "writeOnly": True,
    "minLength": 8,
    "maxLength": 128,
    "pattern": r"[^0-9]",
    "description": (
        "At least 8 characters, not all digits, not a common password, unlike the account's names."
    ),
}


class _ServiceCheckedField(serializers.Field):
    """Text the service validates (and says what is wrong with); its annotation is the schema.

    Not a CharField, whose non-blank `minLength: 1` drf-spectacular would put over the
    annotation's. It refuses what a CharField refuses before any service sees it: no text,
    too long, NUL characters; surrounding whitespace is trimmed when `trim_whitespace`.
    """

    default_error_messages = {
        "invalid": "Not a valid string.",
        "max_length": "Ensure this field has no more than {max_length} characters.",
        "null_characters_not_allowed": "Null characters are not allowed.",
    }

    def __init__(self, *, max_length: int, trim_whitespace: bool = True, **kwargs: Any) -> None:
        self.max_length = max_length
        self.trim_whitespace = trim_whitespace
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if "\x00" in data:
            self.fail("null_characters_not_allowed")
        return data.strip() if self.trim_whitespace else data

    def to_representation(self, value: Any) -> str:
        return str(value)


@extend_schema_field(USERNAME_SCHEMA)
class _UsernameField(_ServiceCheckedField):
    pass


@extend_schema_field(PASSWORD_SCHEMA)
class _PasswordField(_ServiceCheckedField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": True})
class _ObjectField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 255,
        "pattern": r"^$|^/$|^/[^/][\s\S]*$|^https?://[\s\S]*$",
        "description": "A path starting with '/' (not '//') or an http(s) URL; blank for none.",
    }
)
class _RedirectField(serializers.CharField):
    pass


# Fields that decide what a person may do. An endpoint refuses each of them
# unless it declares the field itself, so rights can never be raised by
# sending an extra key.
PRIVILEGED_FIELDS = frozenset(
    {
        "id", "user_type", "is_admin", "is_staff", "is_superuser", "is_approved", "is_active",
        "status", "groups", "user_permissions", "password", "metadata", "redirect_url",
        "last_login", "created_at", "username",
    }
)  # fmt: skip


class RefusePrivilegedFieldsMixin:
    """400 naming the field when the input carries a privileged field this serializer does not declare."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        initial = getattr(self, "initial_data", {}) or {}
        refused = sorted((set(initial) & PRIVILEGED_FIELDS) - set(self.fields))  # type: ignore[attr-defined]
        if refused:
            raise serializers.ValidationError({name: ["You may not set this field."] for name in refused})
        return super().validate(attrs)  # type: ignore[misc]


class RegisterInput(RefusePrivilegedFieldsMixin, serializers.Serializer):
    email = serializers.EmailField(max_length=255)
    username = _UsernameField(max_length=64)
    password = _PasswordField(max_length=128, write_only=True, trim_whitespace=False)


class LoginInput(serializers.Serializer):
    email = serializers.CharField(max_length=255)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class UserOutput(serializers.ModelSerializer):
    is_staff = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id", "username", "email", "user_type", "status", "is_approved", "is_staff",
            "redirect_url", "metadata", "created_at", "last_login",
        ]  # fmt: skip
        read_only_fields = fields


class LoginOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    redirect_url = serializers.CharField()
    user = UserOutput()


class UserSelfUpdateInput(RefusePrivilegedFieldsMixin, serializers.Serializer):
    """What a person may change on their own account."""

    email = serializers.EmailField(max_length=255, required=False)


class UserAdminUpdateInput(RefusePrivilegedFieldsMixin, serializers.Serializer):
    """What a user manager may change (approval and passwords have their own endpoints)."""

    email = serializers.EmailField(max_length=255, required=False)
    user_type = serializers.ChoiceField(choices=UserType.choices, required=False)
    status = serializers.ChoiceField(
        choices=[(UserStatus.ACTIVE, "Active"), (UserStatus.DISABLED, "Disabled")], required=False
    )
    redirect_url = _RedirectField(max_length=255, required=False, allow_blank=True)
    metadata = _ObjectField(required=False)

    def validate_metadata(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class PasswordResetInput(serializers.Serializer):
    password = _PasswordField(max_length=128, write_only=True, trim_whitespace=False)


class RejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class DeleteUserQuery(QuerySerializer):
    delete_workspace = serializers.BooleanField(
        required=False, default=False, help_text="Also remove the workspace folder."
    )
