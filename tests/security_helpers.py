"""Helpers for the security tests: forged tokens and browser sign-in."""

import base64
import json
import re
import time
import warnings

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from portal.config import TestConfig
from tests.conftest import csrf_token

CSRF_HEADER = re.compile(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A token put together by hand, for algorithms PyJWT would not sign."""
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(claims).encode()),
            b64url(signature),
        ]
    )


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def signed_token(
    claims: dict,
    key: str = TestConfig.SECRET_KEY,
    algorithm: str = "HS256",
) -> str:
    with warnings.catch_warnings():
        # The test key is short for HS384/HS512; the forgery needs no more.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm)


def fresh_claims(token: str, **changes) -> dict:
    """The claims of a real token, re-dated to now, with some changed or removed."""
    claims = claims_of(token)
    now = int(time.time())
    claims.update(iat=now, exp=now + 600)
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def web_sign_in(client, phone: str, *, password=None, invite_code=None, query=""):
    """Submit the sign-in form as a browser would; return the response."""
    form = {"phone_number": phone, "csrf_token": csrf_token(client)}
    if password:
        form["password"] = password
    if invite_code:
        form["invite_code"] = invite_code
    return client.post(f"/login{query}", data=form)


def is_signed_in(client) -> bool:
    """The profile page answers 200 only to a live session."""
    return client.get("/me").status_code == 200
