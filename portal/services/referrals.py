"""Referrals: members activate each other's public invite codes (SPEC §2a)."""

import logging

from sqlalchemy import select, update

from portal.errors import Conflict, field_error
from portal.extensions import db
from portal.models import User, utcnow
from portal.services.codes import normalize_invite_code

log = logging.getLogger(__name__)

UNKNOWN_CODE = "No member has this invite code."


def find_code_owner(raw_code: str) -> User | None:
    """The member whose used invite code this is; unused codes are secrets."""
    code = normalize_invite_code(raw_code)
    owner = db.session.scalar(select(User).where(User.invite_code == code))
    if owner is None or not owner.is_member:
        return None
    return owner


def check_referral_code(raw_code: str) -> str:
    """Validate a code given at registration and return it normalized."""
    owner = find_code_owner(raw_code)
    if owner is None:
        raise field_error("referral_code", UNKNOWN_CODE)
    return owner.invite_code


def activate_invite_code(user: User, raw_code: str, field: str = "invite_code") -> User:
    """Record that `user` was invited by the owner of the code, once ever.

    The final UPDATE only matches while the inviter is still unset, so two
    parallel activations give exactly one success.
    """
    owner = find_code_owner(raw_code)
    if owner is None:
        raise field_error(field, UNKNOWN_CODE)

    if owner.id == user.id:
        raise field_error(field, "This is your own invite code.")

    if owner.invited_by_id == user.id:
        raise field_error(
            field,
            "This member activated your invite code, so you cannot activate theirs.",
        )

    if user.invited_by_id is not None:
        raise _already_activated()

    activated = db.session.execute(
        update(User)
        .where(User.id == user.id, User.invited_by_id.is_(None))
        .values(invited_by_id=owner.id, invited_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if activated.rowcount != 1:
        db.session.rollback()
        raise _already_activated()

    db.session.commit()
    db.session.refresh(user)
    log.info("invite activated user_id=%s inviter_id=%s", user.id, owner.id)
    return user


def _already_activated() -> Conflict:
    return Conflict(
        "You have already activated an invite code.",
        {"invite_code": ["You have already activated an invite code."]},
    )


def invited_members(
    user: User, limit: int | None = None, offset: int = 0
) -> list[User]:
    """Members who activated this member's code, newest first."""
    query = (
        select(User)
        .where(User.invited_by_id == user.id, User.is_active.is_(True))
        .order_by(User.invited_at.desc(), User.id.desc())
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))
