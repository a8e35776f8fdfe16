"""Rate limits shared by both faces: per client IP, per phone, per user.

The client IP is the socket's peer (or, behind PROXY_COUNT trusted proxies,
what ProxyFix derived), so a forged X-Forwarded-For never picks the key.
"""

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from portal.extensions import limiter
from portal.services import tokens


def _submitted_phone() -> str:
    if request.is_json:
        body = request.get_json(silent=True)
        value = body.get("phone_number") if isinstance(body, dict) else None
    else:
        value = request.form.get("phone_number")
    return value if isinstance(value, str) else ""


def phone_key() -> str:
    """Count by the digits of the submitted number, however it was typed."""
    digits = "".join(ch for ch in _submitted_phone() if ch.isascii() and ch.isdigit())
    return f"phone:{digits[-9:]}" if digits else f"ip:{get_remote_address()}"


def user_key() -> str:
    """Count by the account behind the bearer token or the session."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        try:
            return "user:" + tokens.decode(header[7:], tokens.ACCESS)["sub"]
        except Exception:
            return f"ip:{get_remote_address()}"
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{get_remote_address()}"


def _per_ip() -> str:
    return current_app.config["RATELIMIT_PER_IP"]


def _per_phone() -> str:
    return current_app.config["RATELIMIT_PER_PHONE"]


def _per_user() -> str:
    return current_app.config["RATELIMIT_PER_USER"]


def _is_get() -> bool:
    return request.method == "GET"


def _failed(response) -> bool:
    return response.status_code >= 400


def signup_limits(view):
    """Per-IP and per-phone limits on a sign-up step's POSTs, shared by both faces.

    The per-phone limit counts only failed requests (wrong codes, wrong
    passwords, refused input): successful sends are already bounded by the
    cooldown and the daily cap, and the owner's own sign-ins should not use
    up the budget. Someone who keeps failing for a number can still hold its
    owner off until the window passes; that is the price of a per-phone
    limit on guessing, which the per-IP limit bounds from the other side.
    """
    per_phone = limiter.shared_limit(
        _per_phone,
        scope="signup-phone",
        key_func=phone_key,
        exempt_when=_is_get,
        deduct_when=_failed,
    )
    per_ip = limiter.shared_limit(
        _per_ip, scope="signup-ip", key_func=get_remote_address, exempt_when=_is_get
    )
    return per_ip(per_phone(view))


def user_limits(view):
    """Per-account limit on everything a signed-in person does."""
    return limiter.limit(_per_user, key_func=user_key)(view)
