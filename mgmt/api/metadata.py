"""OPTIONS answers only to those who may use the route (DRF's default metadata answers anyone).

DRF checks an OPTIONS request against the permissions of a viewset's implicit
`metadata` action, which a view's `get_permissions()` rarely names, so the
view's name and docstring leaked to every logged-in user. Here the route's GET
action decides (a route without GET: any of its actions); plain APIViews had
their permission classes checked for OPTIONS already.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class PermissionCheckedMetadata(SimpleMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        _check_route_permissions(request, view)
        return super().determine_metadata(request, view)


def _check_route_permissions(request: Request, view: Any) -> None:
    action_map: dict[str, str] = getattr(view, "action_map", None) or {}
    if not action_map:
        return
    actions = [action_map["get"]] if "get" in action_map else list(dict.fromkeys(action_map.values()))
    previous = view.action
    refusal: exceptions.APIException | None = None
    try:
        for action in actions:
            view.action = action
            try:
                view.check_permissions(request)
            except (exceptions.PermissionDenied, exceptions.NotAuthenticated) as exc:
                refusal = exc
            else:
                return
    finally:
        view.action = previous
    if refusal is not None:
        raise refusal
