"""JWT access and refresh tokens with rotation and reuse detection."""

import uuid
from collections.abc import Sequence
from datetime import timedelta

import jwt
from flask import current_app
from sqlalchemy import update

from portal.errors import AuthenticationError
from portal.extensions import db
from portal.models import RefreshToken, User, is_row_id, utcnow
from portal.security_log import security_logger

log = security_logger(__name__)

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["sub", "type", "jti", "iat", "exp", "ver"]


def issue_pair(user: User, family_id: str | None = None) -> dict:
    """A new access token and a new refresh token (in a new or given family)."""
    now = utcnow()
    access_ttl = current_app.config["JWT_ACCESS_TTL"]
    refresh_ttl = current_app.config["JWT_REFRESH_TTL"]
    refresh_jti = str(uuid.uuid4())
    family_id = family_id or str(uuid.uuid4())

    db.session.add(
        RefreshToken(
            jti=refresh_jti,
            user_id=user.id,
            family_id=family_id,
            expires_at=now + timedelta(seconds=refresh_ttl),
        )
    )
    db.session.commit()

    return {
        "token_type": "bearer",
        "access": _encode(user, ACCESS, str(uuid.uuid4()), access_ttl),
        "refresh": _encode(user, REFRESH, refresh_jti, refresh_ttl, family_id),
        "expires_in": access_ttl,
    }


def _encode(
    user: User, token_type: str, jti: str, ttl: int, family_id: str | None = None
) -> str:
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "type": token_type,
        "jti": jti,
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        "ver": user.token_version,
    }
    if family_id:
        claims["fam"] = family_id
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALGORITHM)


def decode(token: str, expected_type: str) -> dict:
    """Check signature, algorithm, expiry and type; any fault is a 401."""
    try:
        claims = jwt.decode(
            token,
            current_app.config["SECRET_KEY"],
            algorithms=[ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.InvalidTokenError:
        raise AuthenticationError("The token is invalid or has expired.") from None

    if claims.get("type") != expected_type:
        raise AuthenticationError(f"This is not a token of type {expected_type}.")
    if not is_row_id(str(claims["sub"])) or not isinstance(claims["ver"], int):
        raise AuthenticationError("The token is invalid or has expired.")
    return claims


def user_for_claims(claims: dict, load: Sequence = ()) -> User:
    """The token's account, if the token is still of its current version.

    `load` holds loader options, to fetch related rows in the same query.
    """
    user = db.session.get(User, int(claims["sub"]), options=list(load))
    if user is None or not user.is_active or user.token_version != claims["ver"]:
        raise AuthenticationError("The token is no longer valid. Sign in again.")
    return user


def authenticate_access(token: str, load: Sequence = ()) -> User:
    return user_for_claims(decode(token, ACCESS), load)


def rotate(refresh_token: str) -> dict:
    """Spend a refresh token for a new pair; a spent one revokes its family."""
    claims = decode(refresh_token, REFRESH)
    now = utcnow()
    spent = db.session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == claims["jti"],
            RefreshToken.spent_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(spent_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        db.session.rollback()
        revoke_family(claims)
        log.warning("refresh token reuse user_id=%s", claims["sub"])
        raise AuthenticationError(
            "This refresh token was already used or revoked. Sign in again."
        )

    db.session.commit()
    user = user_for_claims(claims)
    return issue_pair(user, claims.get("fam"))


def revoke_family(claims: dict) -> None:
    family_id = claims.get("fam")
    if not family_id:
        return
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def logout(refresh_token: str) -> None:
    claims = decode(refresh_token, REFRESH)
    revoke_family(claims)
    log.info("logout user_id=%s", claims["sub"])


def revoke_user_tokens(user_id: int) -> None:
    """Revoke every refresh token of an account; the caller commits."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
