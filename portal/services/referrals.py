"""Referrals: members activate each other's public invite codes (SPEC §2a).

"No one is invited by someone they invited" is read as the spec words it,
about direct invitations: if A invited B and B invited C, C may still
activate A's code.
"""

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased, joinedload

from portal.errors import Conflict, PermissionDenied, PortalError, field_error
from portal.extensions import db
from portal.models import User, utcnow
from portal.security_log import security_logger
from portal.services.codes import looks_like_invite_code, normalize_invite_code
from portal.services.directory import member_condition

log = security_logger(__name__)

UNKNOWN_CODE = "No member has this invite code."
OWN_CODE = "This is your own invite code."
INVITED_YOU = "This member activated your invite code, so you cannot activate theirs."
ALREADY_ACTIVATED = "You have already activated an invite code."
MEMBERS_ONLY = "Only members can activate an invite code."


def find_code_owner(raw_code: str) -> User | None:
    """The member whose used invite code this is; unused codes are secrets."""
    code = normalize_invite_code(raw_code)
    if not looks_like_invite_code(code):
        return None

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

    The checks below give the clear answer; the database enforces the same
    rules in the final UPDATE, which only matches while the member has no
    inviter and the owner is still a member not invited by them. Both rows
    are locked first, in id order (PostgreSQL; SQLite locks the whole file
    for a write), so neither two activations by one member nor two members
    activating each other's codes at once can both succeed.
    """
    if not user.is_member:
        raise PermissionDenied(MEMBERS_ONLY)

    if user.invited_by_id is not None:
        raise _already_activated()

    owner = find_code_owner(raw_code)
    if owner is None:
        raise field_error(field, UNKNOWN_CODE)

    if owner.id == user.id:
        raise field_error(field, OWN_CODE)

    if owner.invited_by_id == user.id:
        raise field_error(field, INVITED_YOU)

    db.session.execute(
        select(User.id)
        .where(User.id.in_([user.id, owner.id]))
        .order_by(User.id)
        .with_for_update()
    )
    owner_row = aliased(User)
    owner_may_invite = exists().where(
        owner_row.id == owner.id,
        owner_row.is_verified.is_(True),
        owner_row.is_active.is_(True),
        owner_row.is_admin.is_(False),
        or_(owner_row.invited_by_id.is_(None), owner_row.invited_by_id != user.id),
    )
    activated = db.session.execute(
        update(User)
        .where(User.id == user.id, User.invited_by_id.is_(None), owner_may_invite)
        .values(invited_by_id=owner.id, invited_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if activated.rowcount != 1:
        db.session.rollback()
        raise _refusal_after_race(user, owner, field)

    db.session.commit()
    db.session.refresh(user)
    log.info("invite activated user_id=%s inviter_id=%s", user.id, owner.id)
    return user


def _refusal_after_race(user: User, owner: User, field: str) -> PortalError:
    """Which rule the database enforced, read again from the committed rows."""
    db.session.refresh(user)
    db.session.refresh(owner)
    if user.invited_by_id is not None:
        return _already_activated()
    if owner.invited_by_id == user.id:
        return field_error(field, INVITED_YOU)
    return field_error(field, UNKNOWN_CODE)


def _already_activated() -> Conflict:
    return Conflict(ALREADY_ACTIVATED, {"invite_code": [ALREADY_ACTIVATED]})


def invited_members(
    user: User, limit: int | None = None, offset: int = 0
) -> list[User]:
    """Members who activated this member's code, newest activation first."""
    query = (
        select(User)
        .where(User.invited_by_id == user.id, *member_condition())
        .order_by(User.invited_at.desc(), User.id.desc())
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def with_invited_members():
    """A loader option: the members who activated a code, with its owner."""
    return joinedload(User.invitees)
