"""Who may call the API: active staff (or a superuser) holding the Django permissions that the
view names in ``required_permissions``. A view that names none refuses everyone, so a new view
is closed until someone decides who may use it."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class PortalRole(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if not (user.is_staff or user.is_superuser):
            return False
        required = getattr(view, "required_permissions", None)
        if not required:
            return False
        return user.has_perms(required)
