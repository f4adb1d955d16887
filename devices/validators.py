"""Validation of phone numbers and extension numbers.

A number is either an internal extension (2 to 8 digits, optionally led by
``*`` for a feature code such as voicemail ``*97``) or an international
number in E.164 form (``+4930123456``), checked with ``phonenumbers``.
"""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# C0 control characters and DEL; tab, line feed and carriage return are text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INTERNAL_NUMBER = re.compile(r"^\*?[0-9]{2,8}$")
EXTENSION_NUMBER = re.compile(r"^[0-9]{2,8}$")


def validate_plain_text(value: str) -> None:
    """Refuse control characters (NUL cannot even be stored by PostgreSQL)."""
    if CONTROL_CHARACTERS.search(value or ""):
        raise ValidationError(
            _("Remove the control characters (such as NUL) from this text."), code="control_characters"
        )


def validate_extension_number(value: str) -> None:
    if not EXTENSION_NUMBER.match(value or ""):
        raise ValidationError(
            "An extension number has 2 to 8 digits, for example 1000.",
            code="invalid_extension",
        )


def normalise_number(value: str) -> str:
    """Return the canonical form of a dialable number, or raise ValidationError."""
    value = (value or "").strip().replace(" ", "").replace("-", "")
    if INTERNAL_NUMBER.match(value):
        return value
    if value.startswith("+"):
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise ValidationError(
        "Enter an internal extension (2 to 8 digits, e.g. 1000 or *97) "
        "or an international number starting with + (e.g. +493012345678).",
        code="invalid_number",
    )


def validate_number(value: str) -> None:
    normalise_number(value)
