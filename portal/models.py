"""Tables. Models hold only small invariants; the rules live in services."""

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    and_,
)
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship, remote

from portal.extensions import db

# Integer ids are 32-bit on PostgreSQL; a bigger number names no row and
# would make the database raise instead of answering "not found".
MAX_ROW_ID = 2**31 - 1


def is_row_id(text: str) -> bool:
    """True for the decimal text of an id any table could hold."""
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ROW_ID


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database; SQLite alone would drop the zone."""

    impl = DateTime
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class User(db.Model):
    """An account: one per E.164 phone number."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(16), unique=True)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # HMAC of the newest invite code; kept after use so codes stay unique.
    invite_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The public invite code, set at its one sign-in and stored as is.
    invite_code: Mapped[str | None] = mapped_column(String(8), unique=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    date_joined: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_code_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A referral code given at registration, activated at the first sign-in.
    pending_referral_code: Mapped[str | None] = mapped_column(String(8))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invited_by: Mapped["User | None"] = relationship(remote_side=[id])
    # The list referrals.invited_members gives (members only, as is_member
    # and directory.member_condition say; newest first), as a relationship so
    # GET /users/me/ loads it with the account in one query.
    invitees: Mapped[list["User"]] = relationship(
        primaryjoin=lambda: and_(
            User.id == remote(foreign(User.invited_by_id)),
            remote(User.is_verified).is_(True),
            remote(User.is_active).is_(True),
            remote(User.is_admin).is_(False),
        ),
        order_by=lambda: (User.invited_at.desc(), User.id.desc()),
        viewonly=True,
    )

    __table_args__ = (Index("ix_users_invited_by_id", "invited_by_id"),)

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def has_signed_in(self) -> bool:
        return self.first_login_at is not None

    @property
    def is_member(self) -> bool:
        return self.is_verified and self.is_active and not self.is_admin

    # Flask-Login: the session id carries the token version, so bumping the
    # version (new password, deactivation) ends every browser session.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}.{self.token_version}"


class PhoneCode(db.Model):
    """A confirmation code sent by SMS; at most one live code per account."""

    __tablename__ = "phone_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SmsSend(db.Model):
    """One SMS sent to a phone: the daily cap per phone counts these."""

    __tablename__ = "sms_sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_sms_sends_phone_sent", "phone_e164", "sent_at"),)


class RefreshToken(db.Model):
    """A refresh token's state: good once, revoked with its whole family."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(db.Model):
    """What the console SMS backend sent, so every worker can show it."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(db.Model):
    """One admin action, kept for `/admin/audit`."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    target_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    target: Mapped[User | None] = relationship(foreign_keys=[target_id])
