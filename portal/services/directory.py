"""The member directory and the admin account list: search and paging."""

import re
from dataclasses import dataclass
from time import monotonic

from flask import current_app
from sqlalchemy import (
    Select,
    and_,
    column,
    false,
    func,
    literal,
    or_,
    select,
    table,
)

from portal.extensions import db
from portal.models import User
from portal.services.codes import (
    INVITE_ALPHABET,
    INVITE_CODE_LENGTH,
    looks_like_invite_code,
    normalize_invite_code,
)

# A query made only of these reads as a phone number: "90 123", "+99890123".
PHONE_QUERY = re.compile(r"^[0-9+\-.() ]+$")
ACCOUNT_STATUSES = ("all", "members", "unverified", "deactivated", "admins")
MAX_QUERY_LENGTH = 64
# How many of a phone query's last digits the trigram index looks up.
PHONE_INDEX_DIGITS = 5
MEMBER_COUNT_CACHE = "portal_member_count"


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
    conditions = []
    code_text = normalize_invite_code(text)
    if _could_be_in_invite_code(code_text):
        conditions.append(User.invite_code.like(_like_literal(code_text), escape="\\"))
    if PHONE_QUERY.match(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        if digits:
            conditions.append(_phone_digits_condition(digits))
    return or_(false(), *conditions)


def _could_be_in_invite_code(code_text: str) -> bool:
    """Codes are 8 letters of INVITE_ALPHABET: other text can match none."""
    return len(code_text) <= INVITE_CODE_LENGTH and all(
        ch in INVITE_ALPHABET for ch in code_text
    )


def _phone_digits_condition(digits: str):
    """The phone number contains the digits, found through their last ones.

    Most members share the leading digits (country and operator codes), so
    the trigram index would walk nearly every row for them. The index looks
    up only the last PHONE_INDEX_DIGITS digits, which tell numbers apart, and
    the whole pattern filters the rows found: `|| ''` keeps it out of the
    index scan. The rows matched are the same either way.
    """
    whole = _like_literal(digits)
    if len(digits) <= PHONE_INDEX_DIGITS:
        return User.phone_e164.like(whole, escape="\\")
    tail = _like_literal(digits[-PHONE_INDEX_DIGITS:])
    return and_(
        User.phone_e164.like(tail, escape="\\"),
        (User.phone_e164 + literal("")).like(whole, escape="\\"),
    )


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
    if "\x00" in query_text:
        return base.where(false())
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

    unfiltered = not query_text.strip() and not (invited_by_code or "").strip()
    if members_only and unfiltered:
        total = member_count()
    else:
        total = db.session.scalar(count_query)
    users = list(db.session.scalars(page_query.limit(limit).offset(offset)))
    return Page(total=total, users=users)


def member_count() -> int:
    """How many members the unfiltered directory holds, without a scan per request.

    Counting every member is a full scan of the users table. On PostgreSQL,
    once the planner's row estimate for the table (pg_class.reltuples, kept
    by ANALYZE and autovacuum, read in the same statement as the count)
    reaches DIRECTORY_COUNT_CACHE_FROM, the count is kept in this process for
    DIRECTORY_COUNT_CACHE_SECONDS, so it may lag that long behind sign-ups.
    Below that size, and on SQLite, every request counts exactly; filtered
    queries always do.
    """
    cached = current_app.extensions.get(MEMBER_COUNT_CACHE)
    if cached is not None and cached[0] > monotonic():
        return cached[1]

    exact_count = select(func.count()).select_from(User).where(*member_condition())
    if db.engine.dialect.name != "postgresql":
        return db.session.scalar(exact_count)

    pg_class = table("pg_class", column("oid"), column("reltuples"))
    row_estimate = (
        select(pg_class.c.reltuples)
        .where(pg_class.c.oid == func.to_regclass(User.__tablename__))
        .scalar_subquery()
    )
    total, estimate = db.session.execute(
        exact_count.add_columns(func.coalesce(row_estimate, -1))
    ).one()
    if estimate >= current_app.config["DIRECTORY_COUNT_CACHE_FROM"]:
        lifetime = current_app.config["DIRECTORY_COUNT_CACHE_SECONDS"]
        current_app.extensions[MEMBER_COUNT_CACHE] = (monotonic() + lifetime, total)
    return total
