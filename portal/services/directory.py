"""The member directory and the admin account list: search and paging."""

import re
from dataclasses import dataclass

from sqlalchemy import Select, false, func, or_, select

from portal.extensions import db
from portal.models import User
from portal.services.codes import looks_like_invite_code, normalize_invite_code

# A query made only of these reads as a phone number: "90 123", "+99890123".
PHONE_QUERY = re.compile(r"^[0-9+\-.() ]+$")
ACCOUNT_STATUSES = ("all", "members", "unverified", "deactivated", "admins")
MAX_QUERY_LENGTH = 64


@dataclass
class Page:
    total: int
    users: list[User]


def _like_literal(text: str) -> str:
    """Escape LIKE's wildcards so `%`, `_` and `\\` match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_condition(query_text: str):
    """Digits of the phone number, or the used invite code, contain the text."""
    text = query_text.strip()
    code_text = normalize_invite_code(text)
    conditions = [User.invite_code.like(_like_literal(code_text), escape="\\")]
    if PHONE_QUERY.match(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        if digits:
            conditions.append(User.phone_e164.like(_like_literal(digits), escape="\\"))
    return or_(*conditions)


def member_condition():
    return (
        User.is_verified.is_(True),
        User.is_active.is_(True),
        User.is_admin.is_(False),
    )


def status_condition(status: str):
    if status == "members":
        return member_condition()
    if status == "unverified":
        return (User.is_verified.is_(False),)
    if status == "deactivated":
        return (User.is_active.is_(False),)
    if status == "admins":
        return (User.is_admin.is_(True),)
    return ()


def _filtered(base: Select, query_text: str, invited_by_code: str | None) -> Select:
    # No stored value holds a NUL, and PostgreSQL refuses one in a query.
    query_text = query_text.replace("\x00", "")
    if query_text.strip():
        base = base.where(search_condition(query_text))
    if invited_by_code is not None and invited_by_code.strip():
        base = base.where(invited_by_condition(invited_by_code))
    return base


def invited_by_condition(raw_code: str):
    """Accounts that activated this public invite code; a malformed one matches none."""
    code = normalize_invite_code(raw_code)
    if not looks_like_invite_code(code):
        return false()

    inviter_id = select(User.id).where(User.invite_code == code).scalar_subquery()
    return User.invited_by_id == inviter_id


def find_accounts(
    query_text: str = "",
    *,
    members_only: bool = True,
    status: str = "all",
    invited_by_code: str | None = None,
    limit: int,
    offset: int,
) -> Page:
    """One page of accounts ordered by id, with the total that match."""
    conditions = member_condition() if members_only else status_condition(status)
    count_query = _filtered(
        select(func.count()).select_from(User).where(*conditions),
        query_text,
        invited_by_code,
    )
    page_query = _filtered(
        select(User).where(*conditions), query_text, invited_by_code
    ).order_by(User.id)

    total = db.session.scalar(count_query)
    users = list(db.session.scalars(page_query.limit(limit).offset(offset)))
    return Page(total=total, users=users)
