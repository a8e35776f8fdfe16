"""Reading JSON request bodies and query parameters with clear field errors."""

from collections.abc import Sequence
from functools import partial, wraps

from flask import g, request

from portal.errors import AuthenticationError, PortalError, ValidationError
from portal.services import tokens

MAX_FIELD_LENGTH = 256
MAX_TOKEN_LENGTH = 4096
# Paging numbers longer than this are refused before they reach the database.
MAX_QUERY_DIGITS = 9


class UnsupportedMediaType(PortalError):
    status_code = 415


def json_body() -> dict:
    """The request's JSON object, or a 415/400 that says what is wrong."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")

    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object.")
    return body


def string_field(
    body: dict, name: str, *, required: bool = True, max_length: int = MAX_FIELD_LENGTH
) -> str | None:
    """A string field: missing, null or blank is 'required'; other types are 400."""
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(
                "Some fields are missing.", {name: ["This field is required."]}
            )
        return None

    if not isinstance(value, str):
        raise ValidationError("Some fields are invalid.", {name: ["Must be a string."]})

    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValidationError(
                "Some fields are invalid.", {name: ["Must be valid Unicode text."]}
            ) from None

    if len(value) > max_length:
        raise ValidationError(
            "Some fields are invalid.",
            {name: [f"Must be at most {max_length} characters."]},
        )
    return value


def int_query(name: str, default: int, minimum: int, maximum: int | None) -> int:
    raw_value = request.args.get(name)
    if raw_value is None:
        return default

    text = raw_value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_QUERY_DIGITS:
        raise ValidationError(
            "Some query parameters are invalid.", {name: ["Must be a whole number."]}
        )
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f"from {minimum} to {maximum}" if maximum else f"{minimum} or more"
        raise ValidationError(
            "Some query parameters are invalid.", {name: [f"Must be {allowed}."]}
        )
    return value


def bearer_required(view=None, *, load: Sequence = ()):
    """Authenticate the access token in the Authorization header.

    Used bare or as `bearer_required(load=[...])`, where `load` holds loader
    options so the account comes with what the view needs in one query.
    """
    if view is None:
        return partial(bearer_required, load=load)

    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Send an access token: Authorization: Bearer ...")
        g.api_user = tokens.authenticate_access(token.strip(), load)
        return view(*args, **kwargs)

    return wrapper
