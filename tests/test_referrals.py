"""Referrals over the JSON API (SPEC §2a, §4), on SQLite and PostgreSQL.

What a person sees when the referral code they gave at registration can no
longer be activated at their first sign-in (the inviter was deactivated or
made an admin in between): the sign-in succeeds as usual, the login answer
carries `referral_problem` with the code and the reason, `/users/me/` shows
`activated_invite_code: null`, and they may still activate another
member's code. The pending code is dropped, so it is never tried again.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import User, utcnow
from portal.services import accounts
from tests.conftest import PASSWORD, codes_sent_to

INVITER = "+998901000001"
NEWCOMER = "+998901000002"
THIRD = "+998901000003"
UNKNOWN_CODE = "No member has this invite code."


def phone(number: int) -> str:
    """A valid Uzbek mobile number, distinct for each small integer."""
    return f"+99890{2000000 + number}"


def user_row(phone_e164: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.phone_e164 == phone_e164))


def activate(api, token: str, code):
    return api.post("/users/activate-invite/", {"invite_code": code}, token=token)


def me(api, token: str) -> dict:
    response = api.get("/users/me/", token=token)
    assert response.status_code == 200
    return response.get_json()


def admin_token(api, phone_e164: str) -> str:
    accounts.create_admin(phone_e164, PASSWORD)
    response = api.post(
        "/auth/login/", {"phone_number": phone_e164, "password": PASSWORD}
    )
    assert response.status_code == 200
    return response.get_json()["access"]


def test_activation_links_the_member_to_the_inviter_in_both_profiles(api):
    inviter = api.member(INVITER)
    newcomer = api.member(NEWCOMER)
    typed_code = " ".join(inviter["invite_code"].lower())

    response = activate(api, newcomer["access"], typed_code)

    assert response.status_code == 200
    answer = response.get_json()
    assert answer["message"] == "The invite code is activated."
    assert answer["user"]["phone_number"] == NEWCOMER
    assert answer["user"]["activated_invite_code"] == {"code": inviter["invite_code"]}
    assert me(api, newcomer["access"]) == answer["user"]
    assert me(api, inviter["access"])["invited_users"] == [
        {"id": user_row(NEWCOMER).id, "phone_number": NEWCOMER}
    ]
    assert user_row(NEWCOMER).invited_by_id == user_row(INVITER).id


def deactivated_members_code(api) -> str:
    code = api.member(THIRD)["invite_code"]
    accounts.set_active(user_row(THIRD), False)
    return code


def admins_code(api) -> str:
    code = api.member(THIRD)["invite_code"]
    accounts.create_admin(THIRD, PASSWORD)
    return code


REFUSED_CODES = {
    "own code": (lambda api, own: own, "This is your own invite code."),
    "unused code": (lambda api, own: api.verified(THIRD), UNKNOWN_CODE),
    "unknown code": (lambda api, own: "ABCDEFGH", UNKNOWN_CODE),
    "deactivated member": (
        lambda api, own: deactivated_members_code(api),
        UNKNOWN_CODE,
    ),
    "admin": (lambda api, own: admins_code(api), UNKNOWN_CODE),
    "too long": (lambda api, own: own + "A", UNKNOWN_CODE),
    "nul character": (lambda api, own: own[:4] + "\x00" + own[4:], UNKNOWN_CODE),
    "other script": (lambda api, own: "АБВГДЕЖЗ", UNKNOWN_CODE),
}


@pytest.mark.parametrize("case", REFUSED_CODES, ids=list(REFUSED_CODES))
def test_refused_codes_are_a_field_error_on_invite_code(api, case):
    make_code, expected_message = REFUSED_CODES[case]
    member = api.member(NEWCOMER)
    code = make_code(api, member["invite_code"])

    response = activate(api, member["access"], code)

    assert response.status_code == 400
    assert response.get_json() == {
        "message": expected_message,
        "errors": {"invite_code": [expected_message]},
    }
    assert user_row(NEWCOMER).invited_by_id is None


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"invite_code": ""}, 400), ({"invite_code": 12345678}, 400)],
    ids=["missing", "blank", "number"],
)
def test_activation_body_must_carry_the_code_as_a_string(api, body, status):
    member = api.member(NEWCOMER)
    response = api.post("/users/activate-invite/", body, token=member["access"])
    assert response.status_code == status
    assert "invite_code" in response.get_json()["errors"]


def test_activation_needs_a_bearer_token(api):
    inviter = api.member(INVITER)
    response = api.post(
        "/users/activate-invite/", {"invite_code": inviter["invite_code"]}
    )
    assert response.status_code == 401


def test_activating_the_code_of_a_member_you_invited_is_refused(api):
    inviter = api.member(INVITER)
    newcomer = api.member(NEWCOMER)
    assert activate(api, newcomer["access"], inviter["invite_code"]).status_code == 200

    response = activate(api, inviter["access"], newcomer["invite_code"])

    assert response.status_code == 400
    message = "This member activated your invite code, so you cannot activate theirs."
    assert response.get_json() == {
        "message": message,
        "errors": {"invite_code": [message]},
    }
    assert user_row(INVITER).invited_by_id is None


def test_a_longer_chain_back_to_yourself_is_allowed(api):
    """The rule is about direct invitations only: A→B→C, then C may invite A."""
    first = api.member(phone(1))
    second = api.member(phone(2))
    third = api.member(phone(3))
    assert activate(api, second["access"], first["invite_code"]).status_code == 200
    assert activate(api, third["access"], second["invite_code"]).status_code == 200

    assert activate(api, first["access"], third["invite_code"]).status_code == 200


@pytest.mark.parametrize(
    "second_code",
    ["same code", "another member's code", "own code", "unknown code"],
)
def test_every_activation_after_the_first_is_409(api, second_code):
    inviter = api.member(INVITER)
    newcomer = api.member(NEWCOMER)
    other = api.member(THIRD)
    assert activate(api, newcomer["access"], inviter["invite_code"]).status_code == 200
    code = {
        "same code": inviter["invite_code"],
        "another member's code": other["invite_code"],
        "own code": newcomer["invite_code"],
        "unknown code": "ABCDEFGH",
    }[second_code]

    response = activate(api, newcomer["access"], code)

    assert response.status_code == 409
    assert response.get_json() == {
        "message": "You have already activated an invite code.",
        "errors": {"invite_code": ["You have already activated an invite code."]},
    }
    assert user_row(NEWCOMER).invited_by_id == user_row(INVITER).id


def test_an_admin_cannot_activate_a_code(api):
    inviter = api.member(INVITER)
    token = admin_token(api, "+998909999999")

    response = activate(api, token, inviter["invite_code"])

    assert response.status_code == 403
    assert response.get_json()["message"] == "Only members can activate an invite code."
    assert user_row("+998909999999").invited_by_id is None


def test_openapi_documents_the_activation_answers(client):
    document = client.get("/api/v1/openapi.json").get_json()
    answers = document["paths"]["/users/activate-invite/"]["post"]["responses"]
    assert {"200", "400", "401", "403", "409"} <= set(answers)


# Referral code at registration.


def registration_refusals():
    return {
        "unknown": lambda api: "ABCDEFGH",
        "unused": lambda api: api.verified(INVITER),
        "deactivated member": deactivated_members_code,
        "admin": admins_code,
        "nul character": lambda api: "ABC\x00DEFG",
    }


@pytest.mark.parametrize("case", registration_refusals())
def test_invalid_referral_code_at_registration_sends_nothing(api, outbox, case):
    code = registration_refusals()[case](api)
    sent_before = len(outbox)
    rows_before = db.session.query(User).count()

    response = api.post(
        "/auth/register/", {"phone_number": NEWCOMER, "referral_code": code}
    )

    assert response.status_code == 400
    assert response.get_json() == {
        "message": UNKNOWN_CODE,
        "errors": {"referral_code": [UNKNOWN_CODE]},
    }
    assert len(outbox) == sent_before
    assert user_row(NEWCOMER) is None
    assert db.session.query(User).count() == rows_before


def test_registering_a_verified_number_with_a_bad_referral_code_is_still_409(api):
    api.verified(NEWCOMER)
    response = api.post(
        "/auth/register/", {"phone_number": NEWCOMER, "referral_code": "ABCDEFGH"}
    )
    assert response.status_code == 409


def test_referral_code_is_activated_at_the_first_sign_in(api):
    inviter = api.member(INVITER)
    api.verified(NEWCOMER, referral_code=inviter["invite_code"].lower())
    assert user_row(NEWCOMER).pending_referral_code == inviter["invite_code"]
    assert user_row(NEWCOMER).invited_by_id is None

    _, invite_code = codes_sent_to(api.outbox, NEWCOMER)
    response = api.post(
        "/auth/login/", {"phone_number": NEWCOMER, "invite_code": invite_code}
    )

    assert response.status_code == 200
    tokens = response.get_json()
    assert "referral_problem" not in tokens
    profile = me(api, tokens["access"])
    assert profile["activated_invite_code"] == {"code": inviter["invite_code"]}
    assert me(api, inviter["access"])["invited_users"] == [
        {"id": profile["id"], "phone_number": NEWCOMER}
    ]
    assert user_row(NEWCOMER).pending_referral_code is None


def test_registering_again_replaces_the_pending_referral_code(api, app):
    first = api.member(INVITER)
    second = api.member(THIRD)
    app.config["CODE_RESEND_COOLDOWN"] = 0
    api.register(NEWCOMER, referral_code=first["invite_code"])

    api.verified(NEWCOMER, referral_code=second["invite_code"])

    assert user_row(NEWCOMER).pending_referral_code == second["invite_code"]


def deactivate_inviter(api):
    accounts.set_active(user_row(INVITER), False)


def make_inviter_admin(api):
    accounts.create_admin(INVITER, PASSWORD)


@pytest.mark.parametrize(
    "invalidate",
    [deactivate_inviter, make_inviter_admin],
    ids=["inviter deactivated", "inviter made admin"],
)
def test_referral_refused_at_first_sign_in_does_not_block_it(api, invalidate):
    inviter_code = api.member(INVITER)["invite_code"]
    other_code = api.member(THIRD)["invite_code"]
    invite_code = api.verified(NEWCOMER, referral_code=inviter_code)
    invalidate(api)

    response = api.post(
        "/auth/login/", {"phone_number": NEWCOMER, "invite_code": invite_code}
    )

    assert response.status_code == 200
    tokens = response.get_json()
    assert tokens["token_type"] == "bearer"
    assert tokens["referral_problem"] == (
        f"The referral code {inviter_code} could not be activated: {UNKNOWN_CODE} "
        "You can activate another member's code on your profile."
    )
    assert me(api, tokens["access"])["activated_invite_code"] is None
    assert user_row(NEWCOMER).pending_referral_code is None
    assert user_row(NEWCOMER).first_login_at is not None

    assert activate(api, tokens["access"], other_code).status_code == 200


# /me lists, newest first.


def test_me_lists_members_who_activated_the_code_newest_first(api):
    inviter = api.member(INVITER)
    for number in range(1, 4):
        api.member(phone(number), referral_code=inviter["invite_code"])
    accounts.set_active(user_row(phone(2)), False)
    admin_invitee = api.member(phone(4), referral_code=inviter["invite_code"])
    assert admin_invitee["token_type"] == "bearer"
    accounts.create_admin(phone(4), PASSWORD)

    listed = me(api, inviter["access"])["invited_users"]

    assert [member["phone_number"] for member in listed] == [phone(3), phone(1)]


def test_me_orders_by_activation_time_not_by_id(api):
    inviter = api.member(INVITER)
    for number in range(1, 4):
        api.member(phone(number), referral_code=inviter["invite_code"])
    earliest = user_row(phone(3))
    earliest.invited_at = utcnow() - timedelta(days=1)
    db.session.commit()

    listed = me(api, inviter["access"])["invited_users"]

    assert [member["phone_number"] for member in listed] == [
        phone(2),
        phone(1),
        phone(3),
    ]


# The directory's invited_by filter.


def test_directory_filters_members_by_the_code_they_activated(api):
    inviter = api.member(INVITER)
    other = api.member(THIRD)
    api.member(phone(1), referral_code=inviter["invite_code"])
    api.member(phone(2), referral_code=other["invite_code"])
    api.member(phone(3), referral_code=inviter["invite_code"])
    api.member(phone(4))

    listing = api.get(
        "/users/list/", token=inviter["access"], invited_by=inviter["invite_code"]
    ).get_json()
    assert listing["count"] == 2
    assert [user["phone_number"] for user in listing["results"]] == [
        phone(1),
        phone(3),
    ]

    lower = api.get(
        "/users/list/",
        token=inviter["access"],
        invited_by=inviter["invite_code"].lower(),
        search="2000003",
    ).get_json()
    assert [user["phone_number"] for user in lower["results"]] == [phone(3)]

    paged = api.get(
        "/users/list/",
        token=inviter["access"],
        invited_by=inviter["invite_code"],
        limit=1,
    ).get_json()
    assert f"invited_by={inviter['invite_code']}" in paged["next"]


@pytest.mark.parametrize(
    ("invited_by", "count"),
    [("ABCDEFGH", 0), ("A\x00B", 0), ("", 3), ("   ", 3)],
    ids=["unknown code", "nul character", "blank", "spaces"],
)
def test_directory_filter_with_odd_codes(api, invited_by, count):
    inviter = api.member(INVITER)
    api.member(NEWCOMER, referral_code=inviter["invite_code"])
    api.member(THIRD)

    response = api.get("/users/list/", token=inviter["access"], invited_by=invited_by)

    assert response.status_code == 200
    assert response.get_json()["count"] == count
