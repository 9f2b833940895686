"""The accounts API: thin views that validate, call one service or selector, and serialize."""

from __future__ import annotations

from django.middleware.csrf import get_token
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.cookies import session_cookie_clear, session_cookie_set
from accounts.filters import UserFilter
from accounts.models import User, UserSession, UserStatus
from accounts.permissions import RequirePermission
from mgmt.api.renderers import APIResponse
from mgmt.api.schema import RATE_LIMITED_ERROR, UPSTREAM_ERROR
from mgmt.api.viewsets import ScopedGenericViewSet
from mgmt.exceptions import PermissionDenied

from .serializers import (
    DeleteUserQuery,
    LoginInput,
    LoginOutput,
    PasswordResetInput,
    RegisterInput,
    RejectInput,
    UserAdminUpdateInput,
    UserOutput,
    UserSelfUpdateInput,
)
from .throttles import RegisterThrottle

# The same answer whether or not the email had an account.
_SIGN_UP = inline_serializer(
    "SignUp",
    {
        "username": serializers.CharField(),
        "email": serializers.EmailField(),
        "status": serializers.ChoiceField(choices=[UserStatus.PENDING]),
    },
)


class RegisterView(APIView):
    """Sign up: the account waits for an operator's approval."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterThrottle]

    @extend_schema(request=RegisterInput, responses={201: _SIGN_UP, 429: RATE_LIMITED_ERROR})
    def post(self, request: Request) -> APIResponse:
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_register(**data.validated_data)
        # The same answer whether or not the email had an account (its owner is told by mail).
        body = {
            "username": data.validated_data["username"],
            "email": data.validated_data["email"].strip().lower(),
            "status": UserStatus.PENDING,
        }
        return APIResponse(body, status=201, message=services.SIGN_UP_MESSAGE)


class LoginView(APIView):
    """Log in with email and password: a session token, also set as an HttpOnly cookie."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=LoginInput,
        responses={
            200: LoginOutput,
            401: OpenApiResponse(description="Invalid email or password."),
            403: OpenApiResponse(description="The account is pending, rejected or disabled."),
            429: RATE_LIMITED_ERROR,
        },
    )
    def post(self, request: Request) -> APIResponse:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        # axes flags a lockout on the Django request, where its middleware looks for it.
        result = services.user_login(request=request._request, **data.validated_data)
        body = {
            "token": result.token,
            "expires_at": result.session.expires_at,
            "redirect_url": selectors.user_redirect_url(user=result.user),
            "user": result.user,
        }
        response = APIResponse(LoginOutput(body).data, message="Logged in.")
        session_cookie_set(response, result.token)
        get_token(request._request)  # a CSRF cookie for cookie-authenticated writes
        return response


class LogoutView(APIView):
    """End the current session and clear the cookie."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: None})
    def post(self, request: Request) -> APIResponse:
        if isinstance(request.auth, UserSession):
            services.session_revoke(session=request.auth, actor=request.user)
        response = APIResponse(None, message="Logged out.")
        session_cookie_clear(response)
        return response


class MeView(APIView):
    """The current user, role and status."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOutput})
    def get(self, request: Request) -> APIResponse:
        return APIResponse(UserOutput(request.user).data)


class UserViewSet(ScopedGenericViewSet):
    """Accounts, scoped by `User.objects.visible_to`: yourself, or everyone for user managers."""

    queryset = User.objects.all()
    serializer_class = UserOutput
    filterset_class = UserFilter

    def get_permissions(self):
        if self.action in ("list", "destroy", "reset_password", "reject"):
            return [IsAuthenticated(), RequirePermission("manage_users")]
        return [IsAuthenticated()]

    def get_queryset(self):
        if self.action == "list":
            return selectors.user_list(user=self.request.user)
        return super().get_queryset()

    @extend_schema(responses={200: UserOutput(many=True)})
    def list(self, request: Request) -> APIResponse:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(UserOutput(page, many=True).data)

    @extend_schema(responses={200: UserOutput})
    def retrieve(self, request: Request, pk: int) -> APIResponse:
        return APIResponse(UserOutput(self.get_object()).data)

    @extend_schema(request=UserAdminUpdateInput, responses={200: UserOutput})
    def partial_update(self, request: Request, pk: int) -> APIResponse:
        """People change their own email; user managers also role, status, redirect and metadata."""
        user = self.get_object()
        manager = RequirePermission("manage_users").has_permission(request, self)
        managed_only = set(UserAdminUpdateInput().fields) - set(UserSelfUpdateInput().fields)
        refused = sorted(managed_only & set(getattr(request.data, "keys", list)()))
        if not manager and refused:
            raise PermissionDenied(f"Only user managers may change {', '.join(refused)}.")
        data = (UserAdminUpdateInput if manager else UserSelfUpdateInput)(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update(actor=request.user, user=user, **data.validated_data)
        return APIResponse(UserOutput(user).data, message="Account updated.")

    @extend_schema(parameters=[DeleteUserQuery], responses={200: None, 202: None, 503: UPSTREAM_ERROR})
    def destroy(self, request: Request, pk: int) -> APIResponse:
        query = DeleteUserQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        queued = services.user_delete_everything(
            actor=request.user, user=self.get_object(), delete_folder=query.validated_data["delete_workspace"]
        )
        if queued:
            return APIResponse(
                None,
                status=202,
                message="Deleting the account and its workspace; the user is 'deleting' until done.",
            )
        return APIResponse(None, message="Account deleted.")

    @extend_schema(request=PasswordResetInput, responses={200: None})
    def reset_password(self, request: Request, pk: int) -> APIResponse:
        user = self.get_object()
        data = PasswordResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_password_reset(actor=request.user, user=user, password=data.validated_data["password"])
        return APIResponse(None, message="Password reset; the user's sessions were ended.")

    @extend_schema(request=RejectInput, responses={200: UserOutput})
    def reject(self, request: Request, pk: int) -> APIResponse:
        user = self.get_object()
        data = RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_reject(actor=request.user, user=user, reason=data.validated_data["reason"])
        return APIResponse(UserOutput(user).data, message="Sign-up rejected.")
