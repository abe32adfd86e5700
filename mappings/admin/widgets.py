"""Form widgets of the mappings admin."""

from __future__ import annotations

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


class BasPickerInput(forms.TextInput):
    """A text input with a "Pick from BAS…" button (static/mappings/bas_picker.js). The names
    of sibling fields holding the catalog, the account and the element's name are given; a
    fixed ``account`` id may be given instead of an account field."""

    class Media:
        js = ["mappings/bas_picker.js"]

    def __init__(self, *, own_name: str, set_field: str = "", account_field: str = "",
                 name_field: str = "", account: int | None = None,
                 attrs: dict | None = None) -> None:
        data = {
            "data-bas-picker": "1",
            "data-own-name": own_name,
            "data-set-field": set_field,
            "data-account-field": account_field,
            "data-name-field": name_field,
            "data-url": reverse_lazy("mappings_bas_elements"),
            "data-label": _("Pick from BAS…"),
            "data-needs": _("Choose the account and the BAS catalog first."),
            "size": 40,
        }
        if account is not None:
            data["data-account"] = str(account)
        super().__init__(attrs={**data, **(attrs or {})})
