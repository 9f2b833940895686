"""Accounts: every state-changing operation on users and login sessions.

Keyword-only functions named `<entity>_<action>`. Each writes its audit row in
its own transaction; refusals raise the domain errors of `mgmt.exceptions`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import authenticate, password_validation, user_logged_in
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditSource, LogLevel
from audit.services import audit_log_record
from mgmt.client_ip import client_ip
from mgmt.exceptions import Conflict, NotAuthenticated, PermissionDenied, TooManyRequests, ValidationFailed
from mgmt.queueing import enqueue_on_commit

from .lockout import attempts_left, lockout_minutes
from .models import User, UserSession, UserStatus, UserType
from .permissions import user_has_permission
from .roles import user_role_sync
from .tokens import token_new
from .validators import username_validate

LAST_SEEN_RESOLUTION = timedelta(seconds=60)
_LEGACY_BCRYPT_RE = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")


@dataclass(frozen=True)
class LoginResult:
    user: User
    session: UserSession
    token: str  # shown to the client once; only its hash is stored


# --- helpers ------------------------------------------------------------------


def _email_normalize(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "email: enter a valid email address.", details={"email": ["Enter a valid email address."]}
        ) from exc
    return email


def _password_check(password: str, *, user: User) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            f"password: {' '.join(exc.messages)}", details={"password": exc.messages}
        ) from exc


def _email_unique(email: str, *, exclude_pk: int | None = None) -> None:
    taken = User.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationFailed(
            "email: an account with this email exists already.",
            details={"email": ["An account with this email exists already."]},
        )


def _is_last_active_admin(user: User) -> bool:
    if user.user_type != UserType.ADMIN or not user.is_active:
        return False
    return not User.objects.filter(user_type=UserType.ADMIN, is_active=True).exclude(pk=user.pk).exists()


def _login_refusal(user: User) -> str | None:
    """Why an account with a correct password may not log in, or None."""
    if user.status == UserStatus.PENDING:
        return "Your account is waiting for an operator's approval."
    if user.status == UserStatus.REJECTED:
        reason = (user.metadata or {}).get("rejection_reason")
        return f"Your sign-up was rejected: {reason}" if reason else "Your sign-up was rejected."
    if user.status == UserStatus.DELETING:
        return "Your account is being deleted."
    if user.status == UserStatus.DISABLED or not user.is_active:
        return "Your account is disabled."
    return None


# --- sign-up, login, sessions ------------------------------------------------------


SIGN_UP_MESSAGE = (
    "Signed up; an operator will review your sign-up. If this email had an account already, "
    "its owner has been told by mail instead."
)


def user_register(*, email: str, username: str, password: str) -> User | None:
    """A self sign-up: a regular account waiting for approval.

    Whether the email has an account already is nobody's business but its owner's
    (issue #14 D8): the caller answers the same either way, no second account is made, the
    password is hashed all the same (no timing difference), and the owner is told by mail.
    Returns the new account, or None when the email had one. A taken username is still
    refused: usernames are public handles, and the person must choose another.
    """
    email = _email_normalize(email)
    username_validate(username)
    _username_unique(username)
    _password_check(password, user=User(email=email, username=username))
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=email,
                    username=username,
                    password=password,
                    user_type=UserType.REGULAR,
                    status=UserStatus.PENDING,
                    is_approved=False,
                )
                audit_log_record(
                    action="auth.register", target=user, details={"email": email, "username": username}
                )
            return user
        except IntegrityError:
            # A sign-up that ran at the same moment took the username or the email.
            _username_unique(username)
            existing = User.objects.filter(email__iexact=email).first()
            if existing is None:
                raise
    _register_existing_email(existing=existing, username=username, password=password)
    return None


def _username_unique(username: str) -> None:
    if User.objects.filter(username=username).exists():
        # A clash with what exists, like every unique clash of the API: 409, not 400.
        raise Conflict("username: this username is taken.", details={"username": ["This username is taken."]})


def _register_existing_email(*, existing: User, username: str, password: str) -> None:
    make_password(password)  # the work a new account costs, so the answer takes as long
    with transaction.atomic():
        audit_log_record(
            action="auth.register_existing_email",
            target=existing,
            details={"username": username},
            level=LogLevel.WARNING,
        )
        enqueue_on_commit("accounts.tasks.user_signup_attempt_notify_task", existing.pk)


SIGNUP_ATTEMPT_SUBJECT = "Someone tried to sign up with your address"


def user_signup_attempt_notify(*, user_id: int) -> bool:
    """Tell the owner of an address that someone tried to sign up with it. False: no such account."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return False
    body = (
        f"Hello {user.username},\n\n"
        f"someone tried to sign up at {settings.PLATFORM_URL} with this email address, which "
        "already has an account there. No new account was made, and yours is unchanged.\n\n"
        "If it was you: log in with your existing account (your username is above). "
        "If it was not, you can ignore this message.\n"
    )
    send_mail(SIGNUP_ATTEMPT_SUBJECT, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return True


def session_create(
    *, user: User, ip_address: str | None = None, user_agent: str = ""
) -> tuple[UserSession, str]:
    token, digest = token_new()
    session = UserSession.objects.create(
        user=user,
        token_hash=digest,
        expires_at=timezone.now() + settings.SESSION_TOKEN_LIFETIME,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:255],
    )
    return session, token


def _login_failed(*, email: str, reason: str) -> None:
    # Committed on its own: the request fails right after and must not roll it back.
    with transaction.atomic():
        audit_log_record(
            action="auth.login_failed",
            details={"email": email[:255], "reason": reason},
            level=LogLevel.WARNING,
        )


def user_login(*, request: HttpRequest, email: str, password: str) -> LoginResult:
    """Check the credentials (django-axes counts failures) and open a session."""
    email = (email or "").strip().lower()
    user = authenticate(request, email=email, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            _login_failed(email=email, reason="locked out")
            raise TooManyRequests(
                f"Too many failed logins for this account from this address; try again in "
                f"{lockout_minutes()} minutes."
            )
        _login_failed(email=email, reason="invalid credentials")
        if attempts_left(request, email) == 1:
            raise NotAuthenticated(
                f"Invalid email or password. One more failure locks this account out from this address "
                f"for {lockout_minutes()} minutes."
            )
        raise NotAuthenticated("Invalid email or password.")
    refusal = _login_refusal(user)
    if refusal:
        _login_failed(email=email, reason=f"account {user.status}")
        raise PermissionDenied(refusal)
    with transaction.atomic():
        session, token = session_create(
            user=user, ip_address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
        )
        # Updates last_login (Django's receiver) and resets the axes failure count.
        user_logged_in.send(sender=User, request=request, user=user)
        audit_log_record(action="auth.login", actor=user, target=user)
    return LoginResult(user=user, session=session, token=token)


def session_revoke(*, session: UserSession, actor: User | None = None) -> None:
    """Log out (or an operator ends someone's session): it stops authenticating at once."""
    actor = actor or session.user
    with transaction.atomic():
        UserSession.objects.filter(pk=session.pk, is_active=True).update(
            is_active=False, revoked_at=timezone.now()
        )
        session.is_active = False
        action = "auth.logout" if actor.pk == session.user_id else "session.revoke"
        audit_log_record(action=action, actor=actor, target=session.user)


def user_sessions_revoke(*, user: User) -> int:
    """End every session of `user` (password reset, disabling, role change, deletion)."""
    return UserSession.objects.filter(user=user, is_active=True).update(
        is_active=False, revoked_at=timezone.now()
    )


def user_mark_approved(*, actor: User | None, user: User) -> bool:
    """A pending sign-up becomes an active, approved account (one audit row); False when it was."""
    if user.status != UserStatus.PENDING and user.is_approved:
        return False
    user.status = UserStatus.ACTIVE
    user.is_approved = True
    user.save(update_fields=["status", "is_approved"])
    audit_log_record(action="user.approve", actor=actor, target=user)
    return True


def user_mark_deleting(*, user: User) -> None:
    """The account is being torn down: no more log-ins, every session ended."""
    if user.status != UserStatus.DELETING:
        user.status = UserStatus.DELETING
        user.save(update_fields=["status"])
    user_sessions_revoke(user=user)


def user_workspace_record(*, user: User, workspace: dict[str, Any], redirect_url: str) -> None:
    """Remember the person's workspace (metadata["workspace"]) and send them there after log-in."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.metadata = {**(user.metadata or {}), "workspace": workspace}
        user.redirect_url = redirect_url
        user.save(update_fields=["metadata", "redirect_url"])


def session_touch(*, session: UserSession) -> None:
    """Record activity, at most once a minute per session (a conditional update)."""
    now = timezone.now()
    if session.last_seen is not None and now - session.last_seen < LAST_SEEN_RESOLUTION:
        return
    UserSession.objects.filter(pk=session.pk).update(last_seen=now)
    session.last_seen = now


def sessions_purge_expired(
    *, older_than: timedelta | None = None, dry_run: bool = False, now: datetime | None = None
) -> int:
    """Delete sessions that expired or were revoked more than `older_than` (SESSION_RETENTION_DAYS) ago.

    Returns how many were deleted, or with `dry_run` how many would be. One audit row per real purge.
    """
    if older_than is None:
        older_than = timedelta(days=settings.SESSION_RETENTION_DAYS)
    cutoff = (now or timezone.now()) - older_than
    stale = UserSession.objects.dead_since(cutoff)
    if dry_run:
        return stale.count()
    with transaction.atomic():
        deleted, _ = stale.delete()
        if deleted:
            audit_log_record(
                action="session.purge",
                details={"deleted": deleted, "before": cutoff.isoformat()},
                source=AuditSource.SYSTEM,
            )
    return deleted


# --- user management -------------------------------------------------------------


def _validate_redirect_url(value: str) -> str:
    value = value.strip()
    if (
        value
        and not (value.startswith("/") and not value.startswith("//"))
        and not re.match(r"^https?://", value)
    ):
        raise ValidationFailed(
            "redirect_url: must be a path starting with '/' or an http(s) URL.",
            details={"redirect_url": ["Must be a path starting with '/' or an http(s) URL."]},
        )
    return value


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    email: str | None = None,
    user_type: str | None = None,
    status: str | None = None,
    redirect_url: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> User:
    """Change an account. Only user managers may change anything but their own email.

    A role change or disabling ends the user's sessions. `None` means "unchanged".
    """
    is_manager = user_has_permission(actor, "manage_users")
    privileged = {
        "user_type": user_type,
        "status": status,
        "redirect_url": redirect_url,
        "metadata": metadata,
    }
    if not is_manager:
        if actor.pk != user.pk:
            raise PermissionDenied("You may only change your own account.")
        refused = [name for name, value in privileged.items() if value is not None]
        if refused:
            raise PermissionDenied(f"Only administrators may change {', '.join(refused)}.")

    user = User.objects.select_for_update().get(pk=user.pk)
    changes: dict[str, list[Any]] = {}
    revoke = False

    if email is not None:
        email = _email_normalize(email)
        if email != user.email:
            _email_unique(email, exclude_pk=user.pk)
            changes["email"] = [user.email, email]
            user.email = email
    if user_type is not None and user_type != user.user_type:
        if user_type not in UserType.values:
            raise ValidationFailed(f"user_type: must be one of {', '.join(UserType.values)}.")
        if _is_last_active_admin(user):
            raise Conflict("This is the last active admin; make someone else admin first.")
        changes["user_type"] = [user.user_type, user_type]
        user.user_type = user_type
        revoke = True
    if status is not None and status != user.status:
        if status == UserStatus.DISABLED:
            if user.pk == actor.pk:
                raise Conflict("You cannot disable your own account.")
            if _is_last_active_admin(user):
                raise Conflict("This is the last active admin and cannot be disabled.")
            user.is_active = False
            revoke = True
        elif status == UserStatus.ACTIVE:
            if user.status != UserStatus.DISABLED:
                raise Conflict(
                    f"Only a disabled account can be re-enabled here (this one is {user.status}); "
                    "pending sign-ups are approved through the approval endpoint."
                )
            user.is_active = True
        else:
            raise ValidationFailed(
                "status: may be set to 'active' or 'disabled' here.",
                details={"status": ["May be set to 'active' or 'disabled' here."]},
            )
        changes["status"] = [user.status, status]
        user.status = status
    if redirect_url is not None:
        redirect_url = _validate_redirect_url(redirect_url)
        if redirect_url != user.redirect_url:
            changes["redirect_url"] = [user.redirect_url, redirect_url]
            user.redirect_url = redirect_url
    if metadata is not None and metadata != user.metadata:
        if not isinstance(metadata, dict):
            raise ValidationFailed("metadata: must be a JSON object.")
        changes["metadata"] = [user.metadata, metadata]
        user.metadata = metadata

    if not changes:
        return user
    user.save()
    if "user_type" in changes:
        user_role_sync(user=user)
    if revoke:
        user_sessions_revoke(user=user)
    audit_log_record(action="user.update", actor=actor, target=user, details={"changes": changes})
    return user


@transaction.atomic
def user_password_reset(*, actor: User, user: User, password: str) -> None:
    """An administrator sets a new password; every session of the user ends."""
    _password_check(password, user=user)
    user.set_password(password)
    user.save(update_fields=["password"])
    user_sessions_revoke(user=user)
    axes_reset(username=user.email)
    audit_log_record(action="user.password_reset", actor=actor, target=user)


@transaction.atomic
def user_reject(*, actor: User, user: User, reason: str) -> User:
    """Refuse a pending sign-up, keeping the reason (shown to the person at login)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("reason: say why the sign-up is rejected.", details={"reason": ["Required."]})
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.status != UserStatus.PENDING:
        raise Conflict(f"Only pending sign-ups can be rejected; this account is {user.status}.")
    user.status = UserStatus.REJECTED
    user.is_approved = False
    user.metadata = {**(user.metadata or {}), "rejection_reason": reason}
    user.save(update_fields=["status", "is_approved", "metadata"])
    user_sessions_revoke(user=user)
    audit_log_record(action="user.reject", actor=actor, target=user, details={"reason": reason})
    return user


# The app that owns a person's resources (containers: workspace, routes, folder) registers how
# to tear them down, so accounts never imports it. Returns True when the teardown was queued.
UserTeardown = Callable[..., bool]
_user_teardown: UserTeardown | None = None


def register_user_teardown(teardown: UserTeardown) -> None:
    global _user_teardown
    _user_teardown = teardown


def user_delete_everything(*, actor: User, user: User, delete_folder: bool = False) -> bool:
    """Delete a person with what they own; True when it goes on in the background (202)."""
    if _user_teardown is not None:
        return _user_teardown(actor=actor, user=user, delete_folder=delete_folder)
    user_delete(actor=actor, user=user)
    return False


@transaction.atomic
def user_delete_finished(
    *, actor: User | None, user: User, details: dict[str, Any], server_id: int | None = None
) -> None:
    """The last step of a background teardown (the containers app's): audit, then delete."""
    audit_log_record(
        action="user.delete",
        actor=actor,
        target=user,
        server_id=server_id,
        source=AuditSource.WORKER,
        details={"email": user.email, "username": user.username, **details},
    )
    user.delete()


@transaction.atomic
def user_delete_check(*, actor: User | None, user: User) -> None:
    """The rules of every deletion (here and the containers app's teardown): never oneself, never
    the last active admin. `actor` None: a command run without a person behind it."""
    if actor is not None and user.pk == actor.pk:
        raise Conflict("You cannot delete your own account.")
    if _is_last_active_admin(user):
        raise Conflict("This is the last active admin and cannot be deleted.")


def user_delete(*, actor: User | None, user: User, source: AuditSource = AuditSource.API) -> None:
    """Delete the account (the workspace part is added by the containers app)."""
    user_delete_check(actor=actor, user=user)
    user_sessions_revoke(user=user)
    audit_log_record(
        action="user.delete",
        actor=actor,
        target=user,
        source=source,
        details={"email": user.email, "username": user.username},
    )
    user.delete()


def user_create_admin(
    *,
    email: str,
    username: str,
    password: str,
    actor: User | None = None,
    source: AuditSource = AuditSource.COMMAND,
    check_password: bool = True,
) -> User:
    """An active admin account (management commands, first start)."""
    email = _email_normalize(email)
    username_validate(username, allow_reserved=True)
    _email_unique(email)
    if User.objects.filter(username=username).exists():
        raise ValidationFailed("username: this username is taken.")
    if check_password:
        _password_check(password, user=User(email=email, username=username))
    with transaction.atomic():
        user = User.objects.create_superuser(email=email, username=username, password=password)
        user_role_sync(user=user)
        audit_log_record(
            action="user.create_admin", actor=actor, target=user, source=source, details={"email": email}
        )
    return user


def user_import_legacy(
    *,
    email: str,
    username: str,
    bcrypt_hash: str,
    user_type: str = UserType.REGULAR,
    status: str = UserStatus.ACTIVE,
    is_approved: bool = True,
    metadata: dict[str, Any] | None = None,
    redirect_url: str = "",
    created_at: datetime | None = None,
) -> User:
    """Bring over an account of the original platform with its bcrypt hash.

    The hash is stored in Django's bcrypt format ("bcrypt$" + hash), so the old
    password keeps working; at the first login Django re-hashes it with Argon2.
    """
    email = _email_normalize(email)
    username_validate(username, allow_reserved=user_type == UserType.ADMIN)
    if not _LEGACY_BCRYPT_RE.fullmatch(bcrypt_hash or ""):
        raise ValidationFailed("password: not a bcrypt hash ($2a$/$2b$/$2y$).")
    if user_type not in UserType.values:
        raise ValidationFailed(f"user_type: must be one of {', '.join(UserType.values)}.")
    if status not in UserStatus.values:
        raise ValidationFailed(f"status: must be one of {', '.join(UserStatus.values)}.")
    _email_unique(email)
    if User.objects.filter(username=username).exists():
        raise ValidationFailed("username: this username is taken.")
    with transaction.atomic():
        user = User(
            email=email,
            username=username,
            password="bcrypt$" + bcrypt_hash,
            user_type=user_type,
            status=status,
            is_approved=is_approved,
            is_active=status != UserStatus.DISABLED,
            is_superuser=user_type == UserType.ADMIN,
            metadata=metadata or {},
            redirect_url=_validate_redirect_url(redirect_url or ""),
        )
        if created_at is not None:
            user.created_at = created_at
        user.save()
        user_role_sync(user=user)
        audit_log_record(
            action="user.import", target=user, source=AuditSource.COMMAND, details={"email": email}
        )
    return user
