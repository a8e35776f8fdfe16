"""The OpenAPI 3.1 document of the JSON API, built from small pieces."""

from functools import cache

from portal.api.input import MAX_QUERY_DIGITS, MAX_TOKEN_LENGTH

MAX_OFFSET = 10**MAX_QUERY_DIGITS - 1
# Request strings: the API refuses longer ones (portal/api/input.py).
TEXT = {"type": "string", "maxLength": 256}
TOKEN = {"type": "string", "maxLength": MAX_TOKEN_LENGTH}
PHONE = {
    **TEXT,
    "description": "Any common form; stored as E.164.",
    "examples": ["+998901234567", "90 123 45 67"],
}
CODE_OBJECT = {
    "type": ["object", "null"],
    "properties": {"code": {"type": "string"}},
    "required": ["code"],
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def body(required: list[str], properties: dict) -> dict:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": required,
                    "properties": properties,
                }
            }
        },
    }


def answer(description: str, schema_name: str | None = None) -> dict:
    response = {"description": description}
    if schema_name:
        response["content"] = {"application/json": {"schema": ref(schema_name)}}
    return response


def errors(*statuses: int) -> dict:
    texts = {
        400: "Invalid input, with field errors.",
        401: "Not authenticated, or bad credentials.",
        403: "Not allowed, not verified or deactivated.",
        404: "Not found.",
        409: "Conflict.",
        413: "Body too large.",
        415: "Body is not application/json.",
        429: "Rate limited; see Retry-After.",
        503: "The SMS provider is unavailable.",
    }
    return {str(status): answer(texts[status], "Error") for status in statuses}


BODY_ERRORS = (400, 413, 415, 429)
BEARER = [{"bearer": []}]


def operation(
    summary: str,
    success: dict,
    error_statuses: tuple[int, ...],
    request_body: dict | None = None,
    secured: bool = False,
    parameters: list | None = None,
) -> dict:
    spec = {"summary": summary, "responses": {**success, **errors(*error_statuses)}}
    if request_body:
        spec["requestBody"] = request_body
    if secured:
        spec["security"] = BEARER
    if parameters:
        spec["parameters"] = parameters
    return spec


def query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


@cache
def openapi_document() -> dict:
    phone_body = body(["phone_number"], {"phone_number": PHONE})
    refresh_body = body(["refresh"], {"refresh": TOKEN})
    paths = {
        "/auth/register/": {
            "post": operation(
                "Register a phone number; sends a confirmation and an invite code.",
                {"201": answer("Codes sent.", "Message")},
                (*BODY_ERRORS, 409, 503),
                body(
                    ["phone_number"],
                    {
                        "phone_number": PHONE,
                        "referral_code": {**TEXT, "type": ["string", "null"]},
                    },
                ),
            )
        },
        "/auth/verify-code/": {
            "post": operation(
                "Confirm the phone number with the SMS code.",
                {"200": answer("Verified.", "Message")},
                BODY_ERRORS,
                body(
                    ["phone_number", "code"],
                    {"phone_number": PHONE, "code": TEXT},
                ),
            )
        },
        "/auth/get-code/": {
            "post": operation(
                "Send a new code to an account that has not signed in.",
                {"200": answer("Code sent.", "Message")},
                (*BODY_ERRORS, 404, 503),
                phone_body,
            )
        },
        "/auth/login/": {
            "post": operation(
                "Sign in with the invite code (once) or with the password.",
                {"200": answer("Tokens.", "TokenPair")},
                (*BODY_ERRORS, 401, 403),
                body(
                    ["phone_number"],
                    {
                        "phone_number": PHONE,
                        "invite_code": TEXT,
                        "password": TEXT,
                    },
                ),
            )
        },
        "/auth/verify-token/": {
            "post": operation(
                "Spend a refresh token for a new pair.",
                {"200": answer("Tokens.", "TokenPair")},
                (*BODY_ERRORS, 401),
                refresh_body,
            )
        },
        "/auth/refresh/": {
            "post": operation(
                "Alias of /auth/verify-token/.",
                {"200": answer("Tokens.", "TokenPair")},
                (*BODY_ERRORS, 401),
                refresh_body,
            )
        },
        "/auth/logout/": {
            "post": operation(
                "Revoke the refresh token's family.",
                {"204": answer("Signed out.")},
                (*BODY_ERRORS, 401),
                refresh_body,
            )
        },
        "/auth/reset-password/": {
            "post": operation(
                "Send a code for a new password, if the number has an account.",
                {"200": answer("Same answer for every valid number.", "Message")},
                (*BODY_ERRORS, 503),
                phone_body,
            )
        },
        "/auth/reset-password/confirm/": {
            "post": operation(
                "Set a new password with the SMS code.",
                {"200": answer("New password; new tokens.", "MessageWithTokens")},
                (*BODY_ERRORS, 403),
                body(
                    ["phone_number", "code", "password"],
                    {
                        "phone_number": PHONE,
                        "code": TEXT,
                        "password": TEXT,
                    },
                ),
            )
        },
        "/users/set-password/": {
            "post": operation(
                "Set the password; every earlier token ends.",
                {"200": answer("New tokens.", "MessageWithTokens")},
                (*BODY_ERRORS, 401),
                body(["password"], {"password": TEXT}),
                secured=True,
            )
        },
        "/users/me/": {
            "get": operation(
                "The signed-in account.",
                {"200": answer("The account.", "Me")},
                (401, 429),
                secured=True,
            )
        },
        "/users/activate-invite/": {
            "post": operation(
                "Activate another member's public invite code, once ever.",
                {"200": answer("Activated.", "Activated")},
                (*BODY_ERRORS, 401, 403, 409),
                body(["invite_code"], {"invite_code": TEXT}),
                secured=True,
            )
        },
        "/users/list/": {
            "get": operation(
                "Search the member directory.",
                {"200": answer("One page of members.", "UserPage")},
                (400, 401, 429),
                secured=True,
                parameters=[
                    query(
                        "search",
                        {"type": "string"},
                        "Digits of the phone number, or part of an invite code.",
                    ),
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 100},
                        "Page size, default 10.",
                    ),
                    query(
                        "offset",
                        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                        "How many to skip, default 0.",
                    ),
                    query(
                        "invited_by",
                        {"type": "string"},
                        "Only members who activated this invite code.",
                    ),
                ],
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Portal API",
            "version": "1.0.0",
            "description": "Phone sign-up with SMS codes, invite codes and JWTs.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": SCHEMAS,
        },
    }


TOKEN_PROPERTIES = {
    "token_type": {"const": "bearer"},
    "access": {"type": "string"},
    "refresh": {"type": "string"},
    "expires_in": {"type": "integer"},
}
USER_PROPERTIES = {
    "id": {"type": "integer"},
    "phone_number": {"type": "string"},
    "invite_code": CODE_OBJECT,
    "date_joined": {"type": "string", "format": "date-time"},
}
ME_PROPERTIES = {
    **USER_PROPERTIES,
    "is_verified": {"type": "boolean"},
    "has_password": {"type": "boolean"},
    "activated_invite_code": CODE_OBJECT,
    "invited_users": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "phone_number"],
            "properties": {
                "id": {"type": "integer"},
                "phone_number": {"type": "string"},
            },
        },
    },
}
SCHEMAS = {
    "Message": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
    "Error": {
        "type": "object",
        "required": ["message", "errors"],
        "properties": {
            "message": {"type": "string"},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "TokenPair": {
        "type": "object",
        "required": list(TOKEN_PROPERTIES),
        "properties": {
            **TOKEN_PROPERTIES,
            "referral_problem": {
                "type": "string",
                "description": "Why a referral code from registration was refused.",
            },
        },
    },
    "MessageWithTokens": {
        "type": "object",
        "required": ["message", *TOKEN_PROPERTIES],
        "properties": {"message": {"type": "string"}, **TOKEN_PROPERTIES},
    },
    "User": {
        "type": "object",
        "required": list(USER_PROPERTIES),
        "properties": USER_PROPERTIES,
    },
    "Me": {
        "type": "object",
        "required": list(ME_PROPERTIES),
        "properties": ME_PROPERTIES,
    },
    "Activated": {
        "type": "object",
        "required": ["message", "user"],
        "properties": {"message": {"type": "string"}, "user": ref("Me")},
    },
    "UserPage": {
        "type": "object",
        "required": ["count", "next", "previous", "results"],
        "properties": {
            "count": {"type": "integer"},
            "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]},
            "results": {"type": "array", "items": ref("User")},
        },
    },
}
