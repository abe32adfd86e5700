"""Normalising values before they are searched for in BAS."""

from __future__ import annotations

import re
from typing import Any

_NOT_DIGITS = re.compile(r"\D+")


def normalize_phone(value: Any) -> str | None:
    """A Ukrainian phone as ``+380XXXXXXXXX`` whatever way it was typed ("067 123 45 67",
    "+38(050)1234567", "380931112233", "0931112233"); None when it is not one."""
    if value is None:
        return None
    digits = _NOT_DIGITS.sub("", str(value))
    if len(digits) == 12 and digits.startswith("380"):
        national = digits[3:]
    elif len(digits) == 11 and digits.startswith("80"):  # the old trunk prefix: 8 067 …
        national = digits[2:]
    elif len(digits) == 10 and digits.startswith("0"):
        national = digits[1:]
    elif len(digits) == 9 and not digits.startswith("0"):
        national = digits
    else:
        return None
    return "+380" + national


def normalize_email(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text if "@" in text else None


def normalize_digits(value: Any) -> str | None:
    digits = _NOT_DIGITS.sub("", str(value or ""))
    return digits or None


def normalize_text(value: Any) -> str | None:
    text = " ".join(str(value or "").split())
    return text or None


NORMALIZERS = {
    "text": normalize_text,
    "phone": normalize_phone,
    "email": normalize_email,
    "digits": normalize_digits,
}
