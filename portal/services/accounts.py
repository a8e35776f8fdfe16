"""Accounts: registration, confirmation codes, sign-in and passwords (SPEC §2)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    PortalError,
    RateLimited,
    SmsUnavailable,
    ValidationError,
    field_error,
)
from portal.extensions import db
from portal.models import PhoneCode, SmsSend, User, utcnow
from portal.security_log import security_logger
from portal.services import codes, passwords, referrals, tokens
from portal.services.phones import normalize_phone, require_allowed_region
from portal.services.sms import SmsSendError, compose_message, send_sms

log = security_logger(__name__)

BAD_CODE = "The code is wrong, used or expired. Request a new one."
BAD_CREDENTIALS = "The phone number, invite code or password is wrong."
INVITE_CODE_PURPOSE = "invite"
CONFIRMATION_CODE_PURPOSE = "confirm"


@dataclass
class SignIn:
    """A successful sign-in, and what happened to a pending referral code."""

    user: User
    first_sign_in: bool
    referral_problem: str | None = None


def find_user(phone_e164: str) -> User | None:
    return db.session.scalar(select(User).where(User.phone_e164 == phone_e164))


def register(raw_phone: str, raw_referral_code: str | None = None) -> User:
    """Create the account (or reuse an unverified one) and send its codes."""
    phone_e164 = normalize_phone(raw_phone)
    require_allowed_region(phone_e164)
    user = find_user(phone_e164)
    if user is not None and user.is_verified:
        raise Conflict(
            "This phone number is already registered. Sign in instead.",
            {"phone_number": ["This phone number is already registered."]},
        )

    referral_code = None
    if raw_referral_code and raw_referral_code.strip():
        referral_code = referrals.check_referral_code(raw_referral_code)

    if user is None:
        user = User(phone_e164=phone_e164, pending_referral_code=referral_code)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise Conflict(
                "This phone number was registered a moment ago; wait for its SMS.",
                {"phone_number": ["This phone number is already being registered."]},
            ) from None
        log.info("registered user_id=%s", user.id)
    elif referral_code:
        user.pending_referral_code = referral_code

    send_codes(user)
    return user


def send_codes(user: User) -> None:
    """Send a fresh confirmation code (while unverified) and invite code.

    Each new code voids the one before. The send is claimed before any code
    is made, so of parallel requests only the one that claimed it writes
    codes; a failed send rolls everything back, so the cooldown does not
    start.
    """
    if user.has_signed_in:
        raise ValidationError(
            "This account has signed in already. Sign in with your password.",
            {"phone_number": ["This account has signed in already."]},
        )

    claimed_at = claim_send(user)
    confirmation_code = new_phone_code(user) if not user.is_verified else None
    invite_code = new_invite_code(user)
    deliver(user, compose_message(confirmation_code, invite_code), claimed_at)


def send_reset_code(user: User) -> None:
    """Send a confirmation code for a new password to a signed-in account."""
    claimed_at = claim_send(user)
    confirmation_code = new_phone_code(user)
    deliver(user, compose_message(confirmation_code), claimed_at)


def new_phone_code(user: User) -> str:
    """Replace the account's live confirmation code with a new one."""
    confirmation_code = codes.new_confirmation_code()
    phone_code = db.session.scalar(
        select(PhoneCode).where(PhoneCode.user_id == user.id)
    )
    if phone_code is None:
        phone_code = PhoneCode(user_id=user.id)
        db.session.add(phone_code)
    phone_code.code_hash = codes.keyed_hash(
        CONFIRMATION_CODE_PURPOSE, confirmation_code
    )
    phone_code.expires_at = utcnow() + timedelta(seconds=current_app.config["CODE_TTL"])
    phone_code.attempts = 0
    phone_code.used_at = None
    return confirmation_code


def new_invite_code(user: User) -> str:
    """Give the account a new invite code, unique among all codes ever stored."""
    while True:
        invite_code = codes.new_invite_code()
        invite_hash = codes.keyed_hash(INVITE_CODE_PURPOSE, invite_code)
        taken = db.session.scalar(
            select(User.id).where(
                (User.invite_code_hash == invite_hash)
                | (User.invite_code == invite_code)
            )
        )
        if taken is None:
            user.invite_code_hash = invite_hash
            return invite_code


def claim_send(user: User) -> datetime:
    """Claim the cooldown and check the daily cap; return the claim's time.

    One conditional UPDATE claims the cooldown and holds the account's row
    until the caller commits or rolls back, so parallel sends to one phone
    wait for each other and all but one get 429. Every send passes here, so
    the region check also stops accounts made before a region was dropped.
    """
    require_allowed_region(user.phone_e164)
    now = utcnow()
    cooldown = timedelta(seconds=current_app.config["CODE_RESEND_COOLDOWN"])
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .where(
            (User.last_code_sent_at.is_(None))
            | (User.last_code_sent_at <= now - cooldown)
        )
        .values(last_code_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        db.session.refresh(user)
        wait = (user.last_code_sent_at or now) + cooldown - now
        raise _too_soon(wait)

    day_ago = now - timedelta(days=1)
    sent_today = db.session.scalars(
        select(SmsSend.sent_at)
        .where(SmsSend.phone_e164 == user.phone_e164, SmsSend.sent_at > day_ago)
        .order_by(SmsSend.sent_at)
    ).all()
    if len(sent_today) >= current_app.config["CODES_PER_PHONE_PER_DAY"]:
        db.session.rollback()
        raise _too_soon(sent_today[0] + timedelta(days=1) - now)
    return now


def deliver(user: User, text: str, claimed_at: datetime) -> None:
    """Send the SMS claimed by `claim_send`, and commit it all at once."""
    previously_sent = user.last_code_sent_at is not None
    db.session.add(SmsSend(phone_e164=user.phone_e164, sent_at=claimed_at))
    try:
        send_sms(user.phone_e164, text)
    except SmsSendError:
        db.session.rollback()
        log.warning("sms failure user_id=%s", user.id)
        raise SmsUnavailable(
            "We could not send the SMS right now. Please try again in a minute."
        ) from None

    user.last_code_sent_at = claimed_at
    db.session.commit()
    log.info("code sent user_id=%s previous_sent=%s", user.id, previously_sent)


def _too_soon(wait: timedelta) -> RateLimited:
    seconds = max(int(wait.total_seconds() + 0.999), 1)
    return RateLimited(
        f"Please wait {seconds} seconds before asking for another code.",
        retry_after=seconds,
    )


def consume_code(user: User | None, raw_code: str) -> bool:
    """Spend one attempt on the account's live code; True if it matched.

    The attempt is counted by a conditional UPDATE before the comparison,
    so parallel guesses never get more than CODE_MAX_ATTEMPTS tries.
    """
    code = "".join(raw_code.split())
    phone_code = None
    if user is not None:
        phone_code = db.session.scalar(
            select(PhoneCode).where(PhoneCode.user_id == user.id)
        )
    if phone_code is None:
        codes.hash_matches(None, CONFIRMATION_CODE_PURPOSE, code)
        return False

    attempt = db.session.execute(
        update(PhoneCode)
        .where(
            PhoneCode.id == phone_code.id,
            PhoneCode.used_at.is_(None),
            PhoneCode.attempts < current_app.config["CODE_MAX_ATTEMPTS"],
            PhoneCode.expires_at > utcnow(),
        )
        .values(attempts=PhoneCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if attempt.rowcount != 1:
        return False

    if not codes.hash_matches(phone_code.code_hash, CONFIRMATION_CODE_PURPOSE, code):
        return False

    spent = db.session.execute(
        update(PhoneCode)
        .where(PhoneCode.id == phone_code.id, PhoneCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def verify_phone(raw_phone: str, raw_code: str) -> User:
    """Confirm the number with the code from the SMS.

    A verified account's live code can only be a password-reset code, which
    this step must neither accept nor spend.
    """
    phone_e164 = normalize_phone(raw_phone)
    user = find_user(phone_e164)
    if user is not None and user.is_verified:
        codes.hash_matches(None, CONFIRMATION_CODE_PURPOSE, raw_code)
        raise field_error("code", BAD_CODE)

    if not consume_code(user, raw_code):
        db.session.rollback()
        raise field_error("code", BAD_CODE)

    user.is_verified = True
    db.session.commit()
    log.info("verified user_id=%s", user.id)
    return user


def get_code(raw_phone: str) -> User:
    """Send a new code to an account that has not signed in yet."""
    phone_e164 = normalize_phone(raw_phone)
    require_allowed_region(phone_e164)
    user = find_user(phone_e164)
    if user is None:
        raise NotFound(
            "No account has this phone number. Sign up first.",
            {"phone_number": ["No account has this phone number."]},
        )

    send_codes(user)
    return user


def _require_can_sign_in(user: User) -> None:
    if not user.is_verified:
        raise PermissionDenied(
            "Confirm your phone number first with the code we sent by SMS."
        )
    if not user.is_active:
        raise PermissionDenied("This account has been deactivated.")


def _failed_login(user: User | None) -> AuthenticationError:
    log.info("failed login user_id=%s", user.id if user else None)
    return AuthenticationError(BAD_CREDENTIALS)


def login_with_invite_code(raw_phone: str, raw_invite_code: str) -> SignIn:
    """The one sign-in an invite code allows, only for its own account."""
    phone_e164 = normalize_phone(raw_phone)
    user = find_user(phone_e164)
    invite_code = codes.normalize_invite_code(raw_invite_code)
    usable_hash = user.invite_code_hash if user and not user.has_signed_in else None
    if not codes.hash_matches(usable_hash, INVITE_CODE_PURPOSE, invite_code):
        raise _failed_login(user)

    _require_can_sign_in(user)
    now = utcnow()
    first = db.session.execute(
        update(User)
        .where(User.id == user.id, User.first_login_at.is_(None))
        .values(first_login_at=now, last_login_at=now, invite_code=invite_code)
        .execution_options(synchronize_session=False)
    )
    if first.rowcount != 1:
        db.session.rollback()
        raise _failed_login(user)

    db.session.commit()
    db.session.refresh(user)
    log.info("login user_id=%s method=invite_code", user.id)
    return SignIn(user, True, _activate_pending_referral(user))


def _activate_pending_referral(user: User) -> str | None:
    """Activate the code given at registration; a refusal never blocks sign-in.

    The code can stop being valid between registration and this first
    sign-in when its owner is deactivated or made an admin. The person is
    then told why and that they may activate another code; the pending code
    is dropped either way, so it is never tried again.
    """
    referral_code = user.pending_referral_code
    if not referral_code:
        return None

    problem = None
    try:
        referrals.activate_invite_code(user, referral_code, field="referral_code")
    except PortalError as exc:
        db.session.rollback()
        problem = (
            f"The referral code {referral_code} could not be activated: "
            f"{exc.message} You can activate another member's code on your profile."
        )
        log.info("referral refused user_id=%s", user.id)

    user.pending_referral_code = None
    db.session.commit()
    return problem


def login_with_password(raw_phone: str, password: str) -> SignIn:
    phone_e164 = normalize_phone(raw_phone)
    user = find_user(phone_e164)
    if not passwords.verify_password(user.password_hash if user else None, password):
        raise _failed_login(user)

    _require_can_sign_in(user)
    user.last_login_at = utcnow()
    db.session.commit()
    log.info("login user_id=%s method=password", user.id)
    return SignIn(user, False)


def set_password(user: User, password: str) -> User:
    """Set a new password and end every earlier session and token."""
    passwords.check_password_policy(password, user.phone_e164)
    user.password_hash = passwords.hash_password(password)
    end_sessions(user)
    db.session.commit()
    log.info("password set user_id=%s", user.id)
    return user


def end_sessions(user: User) -> None:
    """Bump the token version and revoke refresh tokens; the caller commits."""
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(token_version=User.token_version + 1)
        .execution_options(synchronize_session=False)
    )
    tokens.revoke_user_tokens(user.id)
    db.session.flush()
    db.session.refresh(user)


def request_password_reset(raw_phone: str) -> None:
    """Send a reset code if the number has a signed-in account.

    The answer is the same for every valid number: inside the account's
    cooldown nothing is sent, but no error tells that the account exists.
    """
    phone_e164 = normalize_phone(raw_phone)
    require_allowed_region(phone_e164)
    user = find_user(phone_e164)
    if user is None or not user.has_signed_in or not user.is_active:
        log.info("password reset for no account")
        return

    try:
        send_reset_code(user)
    except RateLimited:
        log.info("password reset inside cooldown user_id=%s", user.id)


def confirm_password_reset(raw_phone: str, raw_code: str, password: str) -> User:
    phone_e164 = normalize_phone(raw_phone)
    passwords.check_password_policy(password, phone_e164)
    user = find_user(phone_e164)
    if user is None or not user.has_signed_in or not consume_code(user, raw_code):
        db.session.rollback()
        raise field_error("code", BAD_CODE)

    if not user.is_active:
        db.session.rollback()
        raise PermissionDenied("This account has been deactivated.")

    return set_password(user, password)


def set_active(user: User, active: bool) -> User:
    """Deactivate (ending every session and token) or reactivate an account."""
    user.is_active = active
    if not active:
        end_sessions(user)
    db.session.commit()
    return user


def create_admin(raw_phone: str, password: str) -> User:
    """Make or promote an admin account from the command line."""
    phone_e164 = normalize_phone(raw_phone)
    passwords.check_password_policy(password, phone_e164)
    user = find_user(phone_e164)
    if user is None:
        user = User(phone_e164=phone_e164)
        db.session.add(user)
    now = utcnow()
    user.is_admin = True
    user.is_verified = True
    user.is_active = True
    user.first_login_at = user.first_login_at or now
    user.password_hash = passwords.hash_password(password)
    db.session.commit()
    return user
