"""Input and output shapes of the accounts API (validation only; no business logic)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import User, UserStatus, UserType

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
    username = serializers.CharField(max_length=64)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


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
    redirect_url = serializers.CharField(max_length=255, required=False, allow_blank=True)
    metadata = serializers.JSONField(required=False)

    def validate_metadata(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class PasswordResetInput(serializers.Serializer):
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class DeleteUserQuery(serializers.Serializer):
    delete_workspace = serializers.BooleanField(
        required=False, default=False, help_text="Also remove the workspace folder."
    )
