"""Referrals over the JSON API (SPEC §2a, §4), on SQLite and PostgreSQL.

What a person sees when the referral code they gave at registration can no
longer be activated at their first sign-in (the inviter was deactivated or
made an admin in between): the sign-in succeeds as usual, the login answer
carries `referral_problem` with the code and the reason, `/users/me/` shows
`activated_invite_code: null`, and they may still activate another
member's code. The pending code is dropped, so it is never tried again.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

from portal.errors import Conflict, PortalError, ValidationError
from portal.extensions import db
from portal.models import User, utcnow
from portal.services import accounts, referrals, tokens
from tests.conftest import PASSWORD, codes_sent_to, make_app, stored_member
from tests.live_server import answers_healthz

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


# Races: the database, not only Python, keeps the rules.


def test_a_stale_second_activation_is_refused_by_the_database(app, api):
    """Two requests of one member: the second read the row before the first wrote."""
    inviter = api.member(INVITER)
    other = api.member(THIRD)
    api.member(NEWCOMER)
    newcomer_id = user_row(NEWCOMER).id

    with app.app_context():
        stale_newcomer = db.session.get(User, newcomer_id)
        with app.app_context():
            fresh_newcomer = db.session.get(User, newcomer_id)
            referrals.activate_invite_code(fresh_newcomer, inviter["invite_code"])
        assert stale_newcomer.invited_by_id is None

        with pytest.raises(Conflict):
            referrals.activate_invite_code(stale_newcomer, other["invite_code"])

    assert user_row(NEWCOMER).invited_by_id == user_row(INVITER).id


def test_a_stale_activation_that_closes_a_cycle_is_refused_by_the_database(app, api):
    """The inviter read the newcomer's row before the newcomer activated their code."""
    inviter = api.member(INVITER)
    newcomer = api.member(NEWCOMER)
    inviter_id = user_row(INVITER).id
    newcomer_id = user_row(NEWCOMER).id

    with app.app_context():
        stale_inviter = db.session.get(User, inviter_id)
        stale_newcomer = referrals.find_code_owner(newcomer["invite_code"])
        with app.app_context():
            fresh_newcomer = db.session.get(User, newcomer_id)
            referrals.activate_invite_code(fresh_newcomer, inviter["invite_code"])
        assert stale_newcomer.invited_by_id is None

        with pytest.raises(ValidationError) as refusal:
            referrals.activate_invite_code(stale_inviter, newcomer["invite_code"])

    assert refusal.value.errors == {"invite_code": [referrals.INVITED_YOU]}
    assert user_row(INVITER).invited_by_id is None


@pytest.fixture
def shared_app(database, request, tmp_path):
    """An app whose database other processes and connections can open too.

    PostgreSQL: the usual private schema. SQLite: a file, not memory.
    """
    if database == "postgresql":
        app = request.getfixturevalue("app")
        yield app
        return

    app = make_app(f"sqlite:///{tmp_path / 'referrals.sqlite3'}")
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def quick_member(phone_e164: str) -> tuple[User, str]:
    """A member straight in the database, with an access token."""
    member = stored_member(phone_e164)
    return member, tokens.issue_pair(member)["access"]


def test_an_activation_waits_for_a_concurrent_one_that_would_close_a_cycle(
    shared_app,
):
    """Another transaction has made the newcomer the inviter's invitee, uncommitted.

    The inviter's activation of the newcomer's code must wait for it and
    then be refused, not slip past the uncommitted row.
    """
    inviter, _ = quick_member(INVITER)
    newcomer, _ = quick_member(NEWCOMER)
    inviter_id, newcomer_id = inviter.id, newcomer.id
    newcomer_code = newcomer.invite_code
    outcome = {}

    def inviter_activates():
        with shared_app.app_context():
            try:
                referrals.activate_invite_code(
                    db.session.get(User, inviter_id), newcomer_code
                )
                outcome["answer"] = "activated"
            except PortalError as exc:
                outcome["answer"] = exc.errors

    with db.engine.connect() as other_connection:
        other_transaction = other_connection.begin()
        other_connection.execute(
            update(User)
            .where(User.id == newcomer_id)
            .values(invited_by_id=inviter_id, invited_at=utcnow())
        )
        worker = threading.Thread(target=inviter_activates)
        worker.start()
        worker.join(timeout=1.5)
        waited = worker.is_alive()
        other_transaction.commit()
    worker.join(timeout=15)

    assert waited
    assert outcome["answer"] == {"invite_code": [referrals.INVITED_YOU]}
    assert user_row(INVITER).invited_by_id is None
    assert user_row(NEWCOMER).invited_by_id == inviter_id


@pytest.fixture
def server(shared_app, tmp_path):
    """Gunicorn, four processes of four threads each, on the test database."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("FLASK")
    }
    environment.update(
        SECRET_KEY=shared_app.config["SECRET_KEY"],
        DATABASE_URL=shared_app.config["SQLALCHEMY_DATABASE_URI"],
        SMS_BACKEND="memory",
        RATELIMIT_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    log_path = tmp_path / "gunicorn.log"
    # An empty settings file, so the project's gunicorn.conf.py (and the .env
    # it reads) cannot change the server under test.
    settings_path = tmp_path / "gunicorn_settings.py"
    settings_path.write_text("")
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(settings_path),
                "--no-control-socket",
                "--workers",
                "4",
                "--threads",
                "4",
                "--bind",
                "127.0.0.1:0",
                "--error-logfile",
                "-",
                "portal:create_app()",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield wait_until_serving(process, log_path)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until_serving(process: subprocess.Popen, log_path: Path) -> str:
    """The server's base URL once its workers answer /healthz (at most 30 s)."""
    deadline = time.monotonic() + 30
    base_url = None
    while time.monotonic() < deadline and process.poll() is None:
        found = LISTENING.search(log_path.read_text())
        if found:
            base_url = found.group(1)
            if answers_healthz(base_url, timeout=2):
                return base_url
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not start: {log_path.read_text()[-2000:]}")


LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


def post_all_at_once(base_url: str, requests_to_send: list[tuple[str, str]]) -> list:
    """POST every (token, code) activation from its own thread, released together."""
    barrier = threading.Barrier(len(requests_to_send))
    answers = [None] * len(requests_to_send)

    def send(index: int, token: str, code: str) -> None:
        barrier.wait(timeout=10)
        response = requests.post(
            f"{base_url}/api/v1/users/activate-invite/",
            json={"invite_code": code},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answers[index] = (response.status_code, response.json())

    threads = [
        threading.Thread(target=send, args=(index, token, code))
        for index, (token, code) in enumerate(requests_to_send)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_concurrent_activations_by_one_member_give_exactly_one_success(
    shared_app, server
):
    newcomer, newcomer_token = quick_member(NEWCOMER)
    owners = [quick_member(phone(number))[0] for number in range(16)]
    codes_by_owner = {owner.id: owner.invite_code for owner in owners}

    answers = post_all_at_once(
        server, [(newcomer_token, code) for code in codes_by_owner.values()]
    )

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * 15, answers
    winner = next(body for status, body in answers if status == 200)
    inviter_id = user_row(NEWCOMER).invited_by_id
    assert winner["user"]["activated_invite_code"] == {
        "code": codes_by_owner[inviter_id]
    }


def test_members_activating_each_others_codes_at_once_never_form_a_cycle(
    shared_app, server
):
    pairs = [
        (quick_member(phone(2 * pair)), quick_member(phone(2 * pair + 1)))
        for pair in range(4)
    ]
    requests_to_send = []
    for (first, first_token), (second, second_token) in pairs:
        requests_to_send.append((first_token, second.invite_code))
        requests_to_send.append((second_token, first.invite_code))

    answers = post_all_at_once(server, requests_to_send)

    for pair_index in range(4):
        pair_answers = answers[2 * pair_index : 2 * pair_index + 2]
        assert sorted(status for status, _ in pair_answers) == [200, 400], answers
        refused = next(body for status, body in pair_answers if status == 400)
        assert refused["errors"] == {"invite_code": [referrals.INVITED_YOU]}
    for (first, _), (second, _) in pairs:
        first_row, second_row = user_row(first.phone_e164), user_row(second.phone_e164)
        assert (first_row.invited_by_id == second_row.id) != (
            second_row.invited_by_id == first_row.id
        )
