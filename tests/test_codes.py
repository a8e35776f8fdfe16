"""Confirmation codes: expiry, attempts, cooldown, hashing and the SMS text."""

from datetime import timedelta

import responses

from portal.extensions import db
from portal.models import PhoneCode, User
from portal.services.sms import InfobipBackend
from tests.conftest import PHONE, codes_sent_to


def verify(api, code: str):
    return api.post("/auth/verify-code/", {"phone_number": PHONE, "code": code})


def wrong_code(right_code: str) -> str:
    return f"{(int(right_code) + 1) % 1_000_000:06d}"


def test_code_expires_after_code_ttl(api):
    confirmation_code, _ = api.register()
    phone_code = db.session.scalar(db.select(PhoneCode))
    phone_code.expires_at -= timedelta(minutes=11)
    db.session.commit()

    response = verify(api, confirmation_code)
    assert response.status_code == 400
    assert response.get_json()["errors"]["code"] == [
        "The code is wrong, used or expired. Request a new one."
    ]


def test_code_is_void_after_max_wrong_attempts(api):
    confirmation_code, _ = api.register()
    for _ in range(5):
        assert verify(api, wrong_code(confirmation_code)).status_code == 400

    assert verify(api, confirmation_code).status_code == 400
    assert db.session.scalar(db.select(User.is_verified)) is False


def test_right_code_after_four_wrong_tries_still_works(api):
    confirmation_code, _ = api.register()
    for _ in range(4):
        verify(api, wrong_code(confirmation_code))
    assert verify(api, confirmation_code).status_code == 200


def test_code_is_void_once_used(api):
    confirmation_code, _ = api.register()
    assert verify(api, confirmation_code).status_code == 200
    assert verify(api, confirmation_code).status_code == 400


def test_unknown_phone_gets_the_same_answer_as_a_wrong_code(api):
    response = verify(api, "123456")
    assert response.status_code == 400
    assert response.get_json()["errors"]["code"] == [
        "The code is wrong, used or expired. Request a new one."
    ]


def test_new_code_after_the_cooldown_voids_the_previous_one(api, outbox):
    first_code, first_invite = api.register()
    user = db.session.scalar(db.select(User))
    user.last_code_sent_at -= timedelta(seconds=61)
    db.session.commit()

    response = api.post("/auth/get-code/", {"phone_number": PHONE})
    assert response.status_code == 200
    second_code, second_invite = codes_sent_to(outbox, PHONE)
    assert (second_code, second_invite) != (first_code, first_invite)

    assert verify(api, first_code).status_code == 400 or first_code == second_code
    assert verify(api, second_code).status_code == 200
    login_with_old = api.post(
        "/auth/login/", {"phone_number": PHONE, "invite_code": first_invite}
    )
    assert login_with_old.status_code == 401


def test_codes_are_stored_only_as_keyed_hashes(api):
    confirmation_code, invite_code = api.register()
    user = db.session.scalar(db.select(User))
    phone_code = db.session.scalar(db.select(PhoneCode))
    assert user.invite_code is None
    assert invite_code not in user.invite_code_hash
    assert len(user.invite_code_hash) == 64
    assert confirmation_code not in phone_code.code_hash
    assert len(phone_code.code_hash) == 64


def test_invite_code_becomes_public_at_its_sign_in(api):
    invite_code = api.member()["invite_code"]
    assert db.session.scalar(db.select(User.invite_code)) == invite_code


def test_invite_codes_use_the_unambiguous_alphabet(api, outbox):
    _, invite_code = api.register()
    assert len(invite_code) == 8
    assert not set(invite_code) & set("0O1Il")


def test_sms_ends_with_the_webotp_line_when_public_host_is_set(api, app, outbox):
    app.config["PUBLIC_HOST"] = "portal.example"
    confirmation_code, invite_code = api.register()
    assert outbox[-1]["text"] == (
        f"Portal: confirmation code {confirmation_code}, invite code {invite_code}"
        f"\n\n@portal.example #{confirmation_code}"
    )


@responses.activate
def test_failed_send_keeps_the_account_and_the_right_to_ask_again(api, app, outbox):
    app.config.update(
        INFOBIP_BASE_URL="https://sms.provider.test",
        INFOBIP_API_KEY="test-key",
        INFOBIP_RETRIES=0,
    )
    memory_backend = app.extensions["portal_sms"]
    app.extensions["portal_sms"] = InfobipBackend(app)
    responses.post("https://sms.provider.test/sms/2/text/advanced", status=500)

    response = api.post("/auth/register/", {"phone_number": PHONE})
    assert response.status_code == 503
    assert "could not send the SMS" in response.get_json()["message"]
    assert db.session.scalar(db.select(User.phone_e164)) == PHONE
    assert db.session.scalar(db.select(User.last_code_sent_at)) is None

    app.extensions["portal_sms"] = memory_backend
    response = api.post("/auth/get-code/", {"phone_number": PHONE})
    assert response.status_code == 200
    assert len(outbox) == 1


def test_a_password_reset_code_does_not_pass_as_a_confirmation_code(api, app, outbox):
    api.with_password()
    app.config["CODE_RESEND_COOLDOWN"] = 0
    api.post("/auth/reset-password/", {"phone_number": PHONE})
    reset_code, _ = codes_sent_to(outbox, PHONE)

    assert verify(api, reset_code).status_code == 400
    response = api.post(
        "/auth/reset-password/confirm/",
        {"phone_number": PHONE, "code": reset_code, "password": "new pass phrase"},
    )
    assert response.status_code == 200


def test_spaces_typed_inside_a_code_are_ignored(api):
    confirmation_code, _ = api.register()
    spaced = f"{confirmation_code[:3]} {confirmation_code[3:]}"
    assert verify(api, spaced).status_code == 200
