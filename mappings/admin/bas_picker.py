"""A JSON list of BAS elements for the "Pick from BAS" buttons of the mapping forms."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from mappings.services.bas_lookup import bas_elements
from mappings.services.profiles import ProfileError


def bas_elements_view(request: HttpRequest) -> JsonResponse:
    if not request.user.has_perm("mappings.change_correspondence"):
        return JsonResponse({"error": gettext("You may not read BAS elements.")}, status=403)
    account = get_object_or_404(KeyCrmAccount, pk=request.GET.get("account") or 0)
    try:
        elements = bas_elements(account=account, entity_set=request.GET.get("set", ""),
                                text=request.GET.get("q", ""))
    except ProfileError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"elements": elements})
