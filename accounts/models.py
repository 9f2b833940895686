"""The platform's user: the original `users` table as Django's custom user model."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class UserType(models.TextChoices):
    ADMIN = "admin", "Admin"
    QVP = "qvp", "QVP (restricted operator)"
    REGULAR = "regular", "Regular"


class UserStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    DISABLED = "disabled", "Disabled"
    DELETING = "deleting", "Being deleted"


class UserQuerySet(models.QuerySet):
    def pending(self) -> UserQuerySet:
        return self.filter(status=UserStatus.PENDING)

    def operators(self) -> UserQuerySet:
        return self.filter(user_type__in=(UserType.ADMIN, UserType.QVP))

    def visible_to(self, user: Any) -> UserQuerySet:
        """People who manage users see every account; everyone else only their own."""
        from .permissions import user_has_permission  # the matrix imports this module

        if user_has_permission(user, "manage_users"):
            return self.all()
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(pk=user.pk)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def create_user(self, email: str, username: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, username: str, password: str | None = None, **extra: Any) -> User:
        extra.update(
            user_type=UserType.ADMIN,
            is_superuser=True,
            is_approved=True,
            status=UserStatus.ACTIVE,
        )
        return self.create_user(email, username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person on the platform. Staff status follows the user type (admin, qvp)."""

    username = models.CharField(max_length=64, unique=True)
    email = models.EmailField(max_length=255, unique=True)
    user_type = models.CharField(max_length=16, choices=UserType.choices, default=UserType.REGULAR)
    is_approved = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=UserStatus.choices, default=UserStatus.PENDING, db_index=True
    )
    is_active = models.BooleanField(default=True, help_text="False for disabled accounts.")
    metadata = models.JSONField(default=dict, blank=True)
    redirect_url = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    class Meta:
        ordering = ["username"]
        # The user list and the admin's changelist are newest first.
        indexes = [models.Index(fields=["created_at"], name="accounts_user_created_idx")]

    def __str__(self) -> str:
        return self.username

    @property
    def is_admin(self) -> bool:
        return self.user_type == UserType.ADMIN

    @property
    def is_account_active(self) -> bool:
        """Only an active account passes any door (API, pages, admin); pending, rejected, disabled
        or deleting ones never do, whatever their role."""
        return self.is_active and self.status == UserStatus.ACTIVE

    @property
    def is_staff(self) -> bool:
        """Admin and qvp users may use the Django admin; what they see follows the matrix."""
        return self.is_account_active and self.user_type in (UserType.ADMIN, UserType.QVP)


class UserSessionQuerySet(models.QuerySet):
    def live(self) -> UserSessionQuerySet:
        """Sessions that still authenticate: not revoked and not expired."""
        return self.filter(is_active=True, expires_at__gt=timezone.now())

    def dead_since(self, cutoff) -> UserSessionQuerySet:
        """Sessions that expired, or were revoked, before `cutoff` (the purge deletes these)."""
        return self.filter(models.Q(expires_at__lt=cutoff) | models.Q(revoked_at__lt=cutoff))


class UserSession(models.Model):
    """A login session (the original's `user_sessions`). Only a hash of the token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions")
    # sha256 hex of the bearer token; the token itself is shown to the client once and never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    is_active = models.BooleanField(default=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    last_seen = models.DateTimeField(null=True, blank=True)

    objects = UserSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "is_active"])]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"
