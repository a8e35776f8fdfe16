"""A failed sign-in tells nothing about whether the phone has an account (3.7)."""

import re
import statistics
import time

import pytest

from portal.services import accounts, passwords
from tests.conftest import OTHER_PHONE, PHONE
from tests.security_helpers import web_sign_in

UNKNOWN_PHONE = "+998997654321"
UNVERIFIED_PHONE = "+998933334455"
DEACTIVATED_PHONE = "+998944445566"
WRONG_PASSWORD = "not the password at all"
FAILED_LOGIN = {
    "message": "The phone number, invite code or password is wrong.",
    "errors": {},
}
TIMING_ROUNDS = 3


@pytest.fixture
def accounts_of_every_kind(api, app):
    """A member with a password, one without, an unverified and a deactivated one."""
    api.with_password(PHONE)
    api.member(OTHER_PHONE)
    api.register(UNVERIFIED_PHONE)
    api.with_password(DEACTIVATED_PHONE)
    accounts.set_active(accounts.find_user(DEACTIVATED_PHONE), False)


PHONES_OF_EVERY_KIND = [
    UNKNOWN_PHONE,
    PHONE,
    OTHER_PHONE,
    UNVERIFIED_PHONE,
    DEACTIVATED_PHONE,
]


@pytest.mark.parametrize(
    "secret",
    [{"password": WRONG_PASSWORD}, {"invite_code": "ABCDEFGH"}],
    ids=["password", "invite code"],
)
def test_api_failed_login_is_the_same_for_every_kind_of_phone(
    api, accounts_of_every_kind, secret
):
    for phone in PHONES_OF_EVERY_KIND:
        response = api.post("/auth/login/", {"phone_number": phone, **secret})

        assert response.status_code == 401, phone
        assert response.get_json() == FAILED_LOGIN, phone
        assert "Retry-After" not in response.headers


def page_without_tokens(response) -> str:
    """The page text, without its per-session CSRF token and the typed phone."""
    page = response.get_data(as_text=True)
    page = re.sub(r'value="[^"]*"', 'value=""', page)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", page)


def test_web_failed_login_page_is_the_same_for_every_kind_of_phone(
    app, accounts_of_every_kind
):
    pages = set()
    for phone in PHONES_OF_EVERY_KIND:
        response = web_sign_in(app.test_client(), phone, password=WRONG_PASSWORD)

        assert response.status_code == 401, phone
        pages.add(page_without_tokens(response))

    assert len(pages) == 1
    assert FAILED_LOGIN["message"] in pages.pop()


def test_argon2_runs_once_for_known_and_unknown_phones(
    api, accounts_of_every_kind, monkeypatch
):
    verified_hashes = []
    real_hasher = passwords._hasher

    class CountingHasher:
        """Argon2 as before, noting each hash it verifies against."""

        def verify(self, password_hash, password):
            verified_hashes.append(password_hash)
            return real_hasher.verify(password_hash, password)

        def __getattr__(self, name):
            return getattr(real_hasher, name)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())

    for phone in PHONES_OF_EVERY_KIND:
        verified_hashes.clear()
        api.post("/auth/login/", {"phone_number": phone, "password": WRONG_PASSWORD})

        assert len(verified_hashes) == 1, phone
        assert verified_hashes[0].startswith("$argon2id$"), phone


def median_login_seconds(api, phone: str) -> float:
    durations = []
    for _ in range(TIMING_ROUNDS):
        started = time.perf_counter()
        api.post("/auth/login/", {"phone_number": phone, "password": WRONG_PASSWORD})
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def test_failed_login_takes_about_as_long_for_unknown_phones(
    api, accounts_of_every_kind
):
    """Medians over a few tries, with a generous ratio, so load cannot flake it."""
    known = median_login_seconds(api, PHONE)
    unknown = median_login_seconds(api, UNKNOWN_PHONE)
    no_password = median_login_seconds(api, OTHER_PHONE)

    assert 1 / 3 < unknown / known < 3
    assert 1 / 3 < no_password / known < 3


def test_password_reset_answers_the_same_for_every_kind_of_phone(
    api, accounts_of_every_kind, outbox
):
    sent_before = len(outbox)
    answers = set()
    for phone in [UNKNOWN_PHONE, UNVERIFIED_PHONE, DEACTIVATED_PHONE]:
        response = api.post("/auth/reset-password/", {"phone_number": phone})

        assert response.status_code == 200, phone
        answers.add(response.get_data(as_text=True))

    assert len(answers) == 1
    assert len(outbox) == sent_before


def test_password_reset_inside_the_cooldown_looks_like_any_other(
    api, accounts_of_every_kind
):
    first = api.post("/auth/reset-password/", {"phone_number": PHONE})
    again = api.post("/auth/reset-password/", {"phone_number": PHONE})
    nobody = api.post("/auth/reset-password/", {"phone_number": UNKNOWN_PHONE})

    assert first.status_code == again.status_code == nobody.status_code == 200
    assert first.get_json() == again.get_json() == nobody.get_json()
