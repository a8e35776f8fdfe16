"""Confirmation and invite codes: generation and keyed hashing."""

import hashlib
import hmac
import secrets

from flask import current_app

CONFIRMATION_CODE_LENGTH = 6
INVITE_CODE_LENGTH = 8
# No 0/O, 1/I/L: codes are read off a phone screen and typed again.
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_confirmation_code() -> str:
    return "".join(
        secrets.choice("0123456789") for _ in range(CONFIRMATION_CODE_LENGTH)
    )


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))


def normalize_invite_code(raw_code: str) -> str:
    """Invite codes are typed case-insensitively and may carry spaces."""
    return "".join(raw_code.split()).upper()


def looks_like_invite_code(code: str) -> bool:
    return len(code) == INVITE_CODE_LENGTH and all(c in INVITE_ALPHABET for c in code)


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 under the app's secret, separated by purpose."""
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{purpose}:{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def hash_matches(expected_hash: str | None, purpose: str, value: str) -> bool:
    """Compare in constant time; a missing hash never matches."""
    presented_hash = keyed_hash(purpose, value)
    if expected_hash is None:
        hmac.compare_digest(presented_hash, presented_hash)
        return False
    return hmac.compare_digest(expected_hash, presented_hash)
