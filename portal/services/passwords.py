"""Password policy and memory-hard hashing (argon2id)."""

from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 128

_hasher = PasswordHasher()
# Verified against when no account matches, so a miss costs what a hit costs.
_DUMMY_HASH = _hasher.hash("portal-dummy-password")


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("portal").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problems(password: str, phone_e164: str | None) -> list[str]:
    """Return every rule the password breaks, as messages for the person."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    if password.isdigit():
        problems.append("Use something other than digits alone.")
    if password.lower() in common_passwords():
        problems.append("This password is too common.")
    if phone_e164 and password.lstrip("+") in {phone_e164, phone_e164.lstrip("+")}:
        problems.append("Do not use your phone number as your password.")
    return problems


def check_password_policy(
    password: str, phone_e164: str | None, field: str = "password"
) -> None:
    problems = password_problems(password, phone_e164)
    if problems:
        raise ValidationError("Choose a stronger password.", {field: problems})


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time and say no."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False
