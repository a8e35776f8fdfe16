"""Phone number parsing: every accepted form of a number gives one E.164."""

import re

import phonenumbers
from flask import current_app

from portal.errors import field_error

# What a person may type around the digits; anything else is refused up front,
# so the library never guesses at letters or digits from other scripts.
ALLOWED_PHONE_INPUT = re.compile(r"^[0-9+\-.() ]+$")
MAX_PHONE_INPUT_LENGTH = 32
MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}
INVALID_PHONE = "Enter a valid mobile phone number."


def normalize_phone(raw_phone: str, field: str = "phone_number") -> str:
    """Return the E.164 form of a mobile number, or raise a field error."""
    region = current_app.config["PORTAL_DEFAULT_REGION"]
    text = raw_phone.strip()
    if not text:
        raise field_error(field, "Enter your phone number.")

    if len(text) > MAX_PHONE_INPUT_LENGTH or not ALLOWED_PHONE_INPUT.match(text):
        raise field_error(field, INVALID_PHONE)

    if text.startswith("00"):
        text = "+" + text[2:]

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise field_error(field, INVALID_PHONE) from None

    if not phonenumbers.is_valid_number(number):
        raise field_error(field, INVALID_PHONE)

    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise field_error(field, INVALID_PHONE)

    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def require_allowed_region(phone_e164: str, field: str = "phone_number") -> None:
    """Refuse numbers outside the regions Portal may send SMS to."""
    allowed_regions = current_app.config["PORTAL_ALLOWED_REGIONS"]
    region = phonenumbers.region_code_for_number(phonenumbers.parse(phone_e164))
    if region not in allowed_regions:
        raise field_error(
            field, "Portal cannot send codes to phone numbers in this country."
        )


def mask_phone(phone_e164: str) -> str:
    """Hide the middle digits, for log lines."""
    return phone_e164[:5] + "*" * max(len(phone_e164) - 7, 0) + phone_e164[-2:]
