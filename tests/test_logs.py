"""Security events are logged once, with account id and IP, and no secret (3.8)."""

import logging
import re

import pytest

from portal.services import accounts
from tests.conftest import CODES_IN_SMS, OTHER_PHONE, PASSWORD, PHONE, csrf_token
from tests.security_helpers import web_sign_in

CLIENT_IP = "203.0.113.9"
WEB_PHONE = "+998935551212"
ADMIN_PHONE = "+998935550000"
ADMIN_PASSWORD = "admin password for tests"
NEW_PASSWORD = "another horse battery"


@pytest.fixture
def config_overrides():
    return {"LOG_LEVEL": "DEBUG", "CODE_RESEND_COOLDOWN": 0}


@pytest.fixture
def secrets_seen():
    """Every code, password and token the flow handles, to look for in logs."""
    return {PASSWORD, NEW_PASSWORD, ADMIN_PASSWORD}


def remember_tokens(secrets_seen: set, body: dict) -> dict:
    """Note a token pair (and each signature alone) as secrets; return it."""
    for name in ("access", "refresh"):
        if name in body:
            secrets_seen.add(body[name])
            secrets_seen.add(body[name].rsplit(".", 1)[1])
    return body


def drive_the_api(api, outbox, secrets_seen) -> None:
    """Every API step, including failures that are security events."""
    api.post("/auth/register/", {"phone_number": PHONE})
    api.post("/auth/verify-code/", {"phone_number": PHONE, "code": "000000"})
    code, invite_code = codes_of_last_sms(outbox)
    api.post("/auth/verify-code/", {"phone_number": PHONE, "code": code})
    api.post("/auth/login/", {"phone_number": PHONE, "invite_code": "ABCDEFGH"})
    login = {"phone_number": PHONE, "invite_code": invite_code}
    first = remember_tokens(secrets_seen, api.post("/auth/login/", login).get_json())
    api.get("/users/me/", token=first["access"])
    password_body = {"password": PASSWORD}
    set_password = api.post(
        "/users/set-password/", password_body, token=first["access"]
    )
    remember_tokens(secrets_seen, set_password.get_json())

    wrong = {"phone_number": PHONE, "password": "wrong password here"}
    api.post("/auth/login/", wrong)
    right = {"phone_number": PHONE, "password": PASSWORD}
    tokens = remember_tokens(secrets_seen, api.post("/auth/login/", right).get_json())
    rotation = api.post("/auth/refresh/", {"refresh": tokens["refresh"]})
    rotated = remember_tokens(secrets_seen, rotation.get_json())
    api.post("/auth/refresh/", {"refresh": tokens["refresh"]})
    api.get("/users/list/", token=rotated["access"], search="90")

    other = remember_tokens(secrets_seen, api.member(OTHER_PHONE))
    activate = {"invite_code": invite_code}
    api.post("/users/activate-invite/", activate, token=other["access"])
    api.post("/auth/logout/", {"refresh": other["refresh"]})

    api.post("/auth/reset-password/", {"phone_number": PHONE})
    reset_code, _ = codes_of_last_sms(outbox)
    confirm = {"phone_number": PHONE, "code": reset_code, "password": NEW_PASSWORD}
    reset = api.post("/auth/reset-password/confirm/", confirm)
    remember_tokens(secrets_seen, reset.get_json())


def drive_the_pages(app, outbox, secrets_seen) -> None:
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = CLIENT_IP
    form = {"phone_number": WEB_PHONE, "csrf_token": csrf_token(browser)}
    browser.post("/register", data=form)
    code, invite_code = codes_of_last_sms(outbox)
    browser.post("/verify", data={**form, "code": code})
    web_sign_in(browser, WEB_PHONE, invite_code=invite_code)
    browser.post(
        "/set-password",
        data={
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "csrf_token": csrf_token(browser, "/set-password"),
        },
    )
    browser.get("/users?search=90")
    browser.post("/logout")
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/me")})
    web_sign_in(browser, WEB_PHONE, password="wrong password here")
    web_sign_in(browser, WEB_PHONE, password=PASSWORD)
    secrets_seen.add(browser.get_cookie("session").value)

    accounts.create_admin(ADMIN_PHONE, ADMIN_PASSWORD)
    admin = app.test_client()
    admin.environ_base["REMOTE_ADDR"] = CLIENT_IP
    web_sign_in(admin, ADMIN_PHONE, password=ADMIN_PASSWORD)
    web_user = accounts.find_user(WEB_PHONE)
    admin.post(
        f"/admin/users/{web_user.id}/deactivate",
        data={"confirmed": "yes", "csrf_token": csrf_token(admin, "/me")},
    )


def codes_of_last_sms(outbox) -> tuple[str | None, str | None]:
    confirmation_code = invite_code = None
    for match in CODES_IN_SMS.finditer(outbox[-1]["text"]):
        confirmation_code = confirmation_code or match.group(1)
        invite_code = invite_code or match.group(2)
    return confirmation_code, invite_code


def every_code_sent(outbox) -> set[str]:
    return {
        value
        for message in outbox
        for match in CODES_IN_SMS.finditer(message["text"])
        for value in match.groups()
        if value
    }


@pytest.fixture
def flow_logs(app, api, client, outbox, secrets_seen, caplog):
    """Run both faces' full flow with every logger at DEBUG; return the lines."""
    caplog.set_level(logging.DEBUG)
    client.environ_base["REMOTE_ADDR"] = CLIENT_IP

    drive_the_api(api, outbox, secrets_seen)
    drive_the_pages(app, outbox, secrets_seen)

    secrets_seen.update(every_code_sent(outbox))
    return [record.getMessage() for record in caplog.records], caplog.text


def test_no_code_invite_code_password_or_token_reaches_the_logs(
    flow_logs, secrets_seen
):
    lines, full_text = flow_logs
    assert len(lines) > 50

    leaked = 0
    for secret in secrets_seen:
        pattern = re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")
        leaked += bool(pattern.search(full_text))
    assert leaked == 0, f"{leaked} of {len(secrets_seen)} secrets are in the logs"


def matching(lines: list[str], text: str) -> list[str]:
    return [line for line in lines if text in line]


def test_each_security_event_is_logged_once_with_account_and_ip(flow_logs):
    lines, _ = flow_logs
    api_user = accounts.find_user(PHONE).id
    other_user = accounts.find_user(OTHER_PHONE).id
    web_user = accounts.find_user(WEB_PHONE).id
    admin_user = accounts.find_user(ADMIN_PHONE).id

    expected_once = [
        f"registered user_id={api_user} ",
        f"verified user_id={api_user} ",
        f"login user_id={api_user} method=invite_code",
        f"login user_id={api_user} method=password",
        f"refresh token reuse user_id={api_user} ",
        f"invite activated user_id={other_user} inviter_id={api_user}",
        f"logout user_id={other_user} ",
        f"registered user_id={web_user} ",
        f"verified user_id={web_user} ",
        f"login user_id={web_user} method=invite_code",
        f"login user_id={web_user} method=password",
        f"logout user_id={web_user} ",
        f"account deactivated user_id={web_user} actor_id={admin_user}",
        "csrf refused path=/logout",
    ]
    for event in expected_once:
        found = matching(lines, event)
        assert len(found) == 1, (event, found)
        assert found[0].endswith(f" ip={CLIENT_IP}"), found[0]

    for user_id in (api_user, web_user):
        failed = matching(lines, f"failed login user_id={user_id} ")
        assert len(failed) == (2 if user_id == api_user else 1), failed
        assert all(line.endswith(f" ip={CLIENT_IP}") for line in failed)
        password_set = matching(lines, f"password set user_id={user_id} ")
        assert len(password_set) == (2 if user_id == api_user else 1), password_set
