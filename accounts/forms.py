"""Django's own login form, for the doors that use it (the browsable API's /api-auth/login/)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError


class ActiveAccountAuthenticationForm(AuthenticationForm):
    """Refuses pending, rejected and deleting accounts too, not only `is_active=False` ones."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not getattr(user, "is_account_active", False):
            raise ValidationError(self.error_messages["inactive"], code="inactive")
