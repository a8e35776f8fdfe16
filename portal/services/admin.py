"""Admin actions on accounts, each kept in the audit table."""

from sqlalchemy import select

from portal.errors import NotFound, ValidationError
from portal.extensions import db
from portal.models import AuditEntry, User
from portal.security_log import security_logger
from portal.services import accounts

log = security_logger(__name__)

AUDIT_PAGE_SIZE = 50


def get_account(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such account.")
    return user


def change_account(actor: User, target: User, active: bool) -> User:
    """Deactivate or reactivate `target`, and keep a record of who did it."""
    if target.id == actor.id:
        raise ValidationError("You cannot deactivate your own account.")

    if target.is_active == active:
        state = "active" if active else "deactivated"
        raise ValidationError(f"{target.phone_e164} is already {state}.")

    db.session.add(
        AuditEntry(
            actor_id=actor.id,
            target_id=target.id,
            action="reactivate" if active else "deactivate",
        )
    )
    accounts.set_active(target, active)
    log.info(
        "account %s user_id=%s actor_id=%s",
        "reactivated" if active else "deactivated",
        target.id,
        actor.id,
    )
    return target


def audit_page(page: int) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry)
            .order_by(AuditEntry.id.desc())
            .limit(AUDIT_PAGE_SIZE + 1)
            .offset((page - 1) * AUDIT_PAGE_SIZE)
        )
    )
