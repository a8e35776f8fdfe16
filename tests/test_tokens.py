"""Token lifecycle under attack: forged, stale and misused tokens (issue 3.3)."""

import time

import pytest

from portal.extensions import db
from portal.models import User
from portal.services import accounts
from tests.conftest import PASSWORD, PHONE, csrf_token
from tests.security_helpers import (
    claims_of,
    fresh_claims,
    is_signed_in,
    signed_token,
    unsigned_token,
    web_sign_in,
)

ADMIN_PHONE = "+998935550000"
ADMIN_PASSWORD = "admin password for tests"
NEW_PASSWORD = "another horse battery"


@pytest.fixture
def pair(api):
    """A member's token pair, password already set."""
    return api.with_password()


def forged_access_tokens(access: str) -> dict[str, str]:
    """Every way of bending a real access token that must be refused."""
    claims = fresh_claims(access)
    header = {"typ": "JWT"}
    return {
        "alg none": unsigned_token({**header, "alg": "none"}, claims),
        "alg None": unsigned_token({**header, "alg": "None"}, claims),
        "alg none with signature": unsigned_token(
            {**header, "alg": "none"}, claims, b"x" * 32
        ),
        "HS512 with the right key": signed_token(claims, algorithm="HS512"),
        "HS384 with the right key": signed_token(claims, algorithm="HS384"),
        "RS256-shaped": unsigned_token({**header, "alg": "RS256"}, claims, b"s" * 256),
        "ES256-shaped": unsigned_token({**header, "alg": "ES256"}, claims, b"s" * 64),
        "wrong key": signed_token(claims, key="not-the-secret-key-of-this-portal-app"),
        "signature cut off": access.rsplit(".", 1)[0] + ".",
        "claims edited, old signature": ".".join(
            [
                access.split(".")[0],
                unsigned_token({}, {**claims, "sub": "2"}).split(".")[1],
                access.split(".")[2],
            ]
        ),
        "type missing": signed_token(fresh_claims(access, type=None)),
        "type refresh": signed_token(fresh_claims(access, type="refresh")),
        "type upper case": signed_token(fresh_claims(access, type="ACCESS")),
        "sub missing": signed_token(fresh_claims(access, sub=None)),
        "sub not a number": signed_token(fresh_claims(access, sub="1 OR 1=1")),
        "sub an integer": signed_token(fresh_claims(access, sub=1)),
        "sub of nobody": signed_token(fresh_claims(access, sub="4242")),
        "sub beyond any id": signed_token(fresh_claims(access, sub="9" * 30)),
        "jti missing": signed_token(fresh_claims(access, jti=None)),
        "iat missing": signed_token(fresh_claims(access, iat=None)),
        "exp missing": signed_token(fresh_claims(access, exp=None)),
        "ver missing": signed_token(fresh_claims(access, ver=None)),
        "ver a string": signed_token(fresh_claims(access, ver="0")),
        "ver older": signed_token(fresh_claims(access, ver=claims["ver"] - 1)),
        "expired": signed_token(
            fresh_claims(access, iat=int(time.time()) - 3600, exp=int(time.time()) - 1)
        ),
        "not yet valid": signed_token(
            fresh_claims(access, nbf=int(time.time()) + 3600)
        ),
        "not a token": "not-a-token",
        "three empty parts": "..",
        "non-ASCII": "ключ.ключ.ключ",
        "very long": "a" * 8000,
    }


def test_every_forged_or_misused_access_token_gets_401(api, pair):
    assert api.get("/users/me/", token=pair["access"]).status_code == 200

    for name, token in forged_access_tokens(pair["access"]).items():
        response = api.get("/users/me/", token=token)
        assert response.status_code == 401, name
        assert response.get_json()["message"], name


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"],
)
def test_missing_or_wrong_authorization_header_gets_401(client, header):
    response = client.get("/api/v1/users/me/", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["message"].startswith("Send an access token")


def test_refresh_token_is_not_an_access_token_nor_the_reverse(api, pair):
    assert api.get("/users/me/", token=pair["refresh"]).status_code == 401

    response = api.post("/auth/refresh/", {"refresh": pair["access"]})
    assert response.status_code == 401
    assert api.post("/auth/logout/", {"refresh": pair["access"]}).status_code == 401

    assert api.post("/auth/refresh/", {"refresh": pair["refresh"]}).status_code == 200


def test_forged_refresh_tokens_get_401(api, pair):
    claims = fresh_claims(pair["refresh"])
    forged = {
        "alg none": unsigned_token({"alg": "none"}, claims),
        "HS512": signed_token(claims, algorithm="HS512"),
        "wrong key": signed_token(claims, key="not-the-secret-key-of-this-portal-app"),
        "unknown jti": signed_token(
            fresh_claims(pair["refresh"], jti="f" * 36, fam="0" * 36)
        ),
        "expired": signed_token(
            fresh_claims(
                pair["refresh"], iat=int(time.time()) - 99, exp=int(time.time()) - 1
            )
        ),
    }
    for name, token in forged.items():
        response = api.post("/auth/refresh/", {"refresh": token})
        assert response.status_code == 401, name

    assert api.post("/auth/refresh/", {"refresh": pair["refresh"]}).status_code == 200


def test_spent_refresh_token_revokes_its_whole_family(api, pair):
    first_rotation = api.post("/auth/refresh/", {"refresh": pair["refresh"]})
    assert first_rotation.status_code == 200
    new_refresh = first_rotation.get_json()["refresh"]
    assert claims_of(new_refresh)["fam"] == claims_of(pair["refresh"])["fam"]

    replay = api.post("/auth/refresh/", {"refresh": pair["refresh"]})
    assert replay.status_code == 401
    assert "already used" in replay.get_json()["message"]

    assert api.post("/auth/refresh/", {"refresh": new_refresh}).status_code == 401


def test_reuse_leaves_other_families_alone(api, pair):
    other_login = api.post(
        "/auth/login/", {"phone_number": PHONE, "password": PASSWORD}
    )
    other_refresh = other_login.get_json()["refresh"]
    api.post("/auth/refresh/", {"refresh": pair["refresh"]})

    assert api.post("/auth/refresh/", {"refresh": pair["refresh"]}).status_code == 401
    assert api.post("/auth/refresh/", {"refresh": other_refresh}).status_code == 200


def test_logout_revokes_the_family(api, pair):
    assert api.post("/auth/logout/", {"refresh": pair["refresh"]}).status_code == 204
    assert api.post("/auth/refresh/", {"refresh": pair["refresh"]}).status_code == 401


def test_setting_a_password_ends_every_earlier_token(api, pair):
    other = api.post("/auth/login/", {"phone_number": PHONE, "password": PASSWORD})
    earlier = [pair, other.get_json()]

    response = api.post(
        "/users/set-password/", {"password": NEW_PASSWORD}, token=pair["access"]
    )
    assert response.status_code == 200
    fresh = response.get_json()

    for tokens in earlier:
        assert api.get("/users/me/", token=tokens["access"]).status_code == 401
        refresh = api.post("/auth/refresh/", {"refresh": tokens["refresh"]})
        assert refresh.status_code == 401
    assert api.get("/users/me/", token=fresh["access"]).status_code == 200
    assert api.post("/auth/refresh/", {"refresh": fresh["refresh"]}).status_code == 200


def test_password_reset_ends_every_earlier_token(api, outbox, pair):
    from tests.conftest import codes_sent_to

    db.session.execute(db.update(User).values(last_code_sent_at=None))
    db.session.commit()
    api.post("/auth/reset-password/", {"phone_number": PHONE})
    code, _ = codes_sent_to(outbox, PHONE)

    response = api.post(
        "/auth/reset-password/confirm/",
        {"phone_number": PHONE, "code": code, "password": NEW_PASSWORD},
    )
    assert response.status_code == 200

    assert api.get("/users/me/", token=pair["access"]).status_code == 401
    assert api.post("/auth/refresh/", {"refresh": pair["refresh"]}).status_code == 401


def test_api_password_change_ends_browser_sessions(api, app, pair):
    browser = app.test_client()
    web_sign_in(browser, PHONE, password=PASSWORD)
    assert is_signed_in(browser)

    api.post("/users/set-password/", {"password": NEW_PASSWORD}, token=pair["access"])

    response = browser.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_browser_password_change_ends_other_sessions_but_not_this_one(app, pair):
    this_browser, other_browser = app.test_client(), app.test_client()
    web_sign_in(this_browser, PHONE, password=PASSWORD)
    web_sign_in(other_browser, PHONE, password=PASSWORD)
    assert is_signed_in(other_browser)

    response = this_browser.post(
        "/set-password",
        data={
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": csrf_token(this_browser, "/set-password"),
        },
    )
    assert response.status_code == 302

    assert is_signed_in(this_browser)
    assert not is_signed_in(other_browser)


def test_old_session_cookie_stays_dead_after_password_change(api, app, pair):
    """Replaying the cookie saved before the change does not bring it back."""
    browser = app.test_client()
    web_sign_in(browser, PHONE, password=PASSWORD)
    saved_cookie = browser.get_cookie("session").value

    api.post("/users/set-password/", {"password": NEW_PASSWORD}, token=pair["access"])

    replaying_browser = app.test_client()
    replaying_browser.set_cookie("session", saved_cookie)
    assert not is_signed_in(replaying_browser)


def test_admin_deactivation_ends_sessions_and_tokens(api, app, pair):
    accounts.create_admin(ADMIN_PHONE, ADMIN_PASSWORD)
    member_browser, admin_browser = app.test_client(), app.test_client()
    web_sign_in(member_browser, PHONE, password=PASSWORD)
    web_sign_in(admin_browser, ADMIN_PHONE, password=ADMIN_PASSWORD)
    member_id = db.session.scalar(db.select(User.id).where(User.phone_e164 == PHONE))

    response = admin_browser.post(
        f"/admin/users/{member_id}/deactivate",
        data={"confirmed": "yes", "csrf_token": csrf_token(admin_browser, "/me")},
    )
    assert response.status_code == 302

    assert not is_signed_in(member_browser)
    assert api.get("/users/me/", token=pair["access"]).status_code == 401
    assert api.post("/auth/refresh/", {"refresh": pair["refresh"]}).status_code == 401
    login = api.post("/auth/login/", {"phone_number": PHONE, "password": PASSWORD})
    assert login.status_code == 403
    relogin = web_sign_in(member_browser, PHONE, password=PASSWORD)
    assert relogin.status_code == 403
