"""The whole sign-up flow over the JSON API, and each step's error answers."""

import pytest

from portal.extensions import db
from portal.models import User
from tests.conftest import OTHER_PHONE, PASSWORD, PHONE, codes_sent_to


def test_full_flow_register_verify_invite_login_password_and_search(api, outbox):
    response = api.post("/auth/register/", {"phone_number": "90 123-45-67"})
    assert response.status_code == 201
    assert "confirmation code" in response.get_json()["message"]

    confirmation_code, invite_code = codes_sent_to(outbox, PHONE)
    assert outbox[-1]["text"] == (
        f"Portal: confirmation code {confirmation_code}, invite code {invite_code}"
    )

    response = api.post(
        "/auth/verify-code/", {"phone_number": PHONE, "code": confirmation_code}
    )
    assert response.status_code == 200

    response = api.post(
        "/auth/login/", {"phone_number": PHONE, "invite_code": invite_code.lower()}
    )
    assert response.status_code == 200
    tokens = response.get_json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60

    me = api.get("/users/me/", token=tokens["access"]).get_json()
    assert me["phone_number"] == PHONE
    assert me["invite_code"] == {"code": invite_code}
    assert me["is_verified"] is True
    assert me["has_password"] is False
    assert me["activated_invite_code"] is None
    assert me["invited_users"] == []

    response = api.post(
        "/users/set-password/", {"password": PASSWORD}, token=tokens["access"]
    )
    assert response.status_code == 200
    assert set(response.get_json()) == {
        "message",
        "token_type",
        "access",
        "refresh",
        "expires_in",
    }
    assert api.get("/users/me/", token=tokens["access"]).status_code == 401

    response = api.post("/auth/login/", {"phone_number": PHONE, "password": PASSWORD})
    assert response.status_code == 200
    access = response.get_json()["access"]

    listing = api.get("/users/list/", token=access, search="90 123").get_json()
    assert listing["count"] == 1
    assert listing["results"][0]["phone_number"] == PHONE
    assert listing["results"][0]["invite_code"] == {"code": invite_code}


def test_invite_code_signs_in_only_once(api):
    tokens = api.member()
    response = api.post(
        "/auth/login/", {"phone_number": PHONE, "invite_code": tokens["invite_code"]}
    )
    assert response.status_code == 401


def test_invite_code_signs_in_only_its_own_account(api):
    first_invite = api.verified(PHONE)
    api.verified(OTHER_PHONE)
    response = api.post(
        "/auth/login/", {"phone_number": OTHER_PHONE, "invite_code": first_invite}
    )
    assert response.status_code == 401


def test_unverified_account_with_right_invite_code_gets_403(api):
    _, invite_code = api.register()
    response = api.post(
        "/auth/login/", {"phone_number": PHONE, "invite_code": invite_code}
    )
    assert response.status_code == 403
    assert "Confirm your phone number" in response.get_json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"phone_number": "+998999999999", "password": PASSWORD},
        {"phone_number": PHONE, "password": "wrong password 1"},
        {"phone_number": PHONE, "invite_code": "ABCDEFGH"},
    ],
    ids=["unknown phone", "wrong password", "wrong invite code"],
)
def test_failed_logins_look_the_same(api, body):
    api.with_password()
    response = api.post("/auth/login/", body)
    assert response.status_code == 401
    assert response.get_json() == {
        "message": "The phone number, invite code or password is wrong.",
        "errors": {},
    }


def test_password_login_needs_a_password_to_be_set(api):
    api.member()
    response = api.post("/auth/login/", {"phone_number": PHONE, "password": PASSWORD})
    assert response.status_code == 401


def test_register_verified_number_is_409(api):
    api.verified()
    response = api.post("/auth/register/", {"phone_number": PHONE})
    assert response.status_code == 409


def test_register_unverified_number_inside_cooldown_is_429_with_retry_after(api):
    api.register()
    response = api.post("/auth/register/", {"phone_number": PHONE})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@pytest.mark.parametrize(
    "phone",
    ["12345", "+998712345678", "not a phone", "+99890123456789", "٩٩٨٩٠١٢٣٤٥٦٧"],
    ids=["short", "landline", "letters", "too long", "arabic digits"],
)
def test_invalid_phone_is_a_field_error_and_no_row(api, phone):
    response = api.post("/auth/register/", {"phone_number": phone})
    assert response.status_code == 400
    assert "phone_number" in response.get_json()["errors"]
    assert db.session.query(User).count() == 0


def test_other_country_is_refused_before_any_sms(api, outbox):
    response = api.post("/auth/register/", {"phone_number": "+14155552671"})
    assert response.status_code == 400
    assert "country" in response.get_json()["errors"]["phone_number"][0]
    assert outbox == []


@pytest.mark.parametrize(
    "raw_phone",
    ["+998 90 123 45 67", "00998901234567", "(90) 123-45-67", "90.123.45.67"],
)
def test_phone_forms_normalize_to_one_account(api, raw_phone):
    response = api.post("/auth/register/", {"phone_number": raw_phone})
    assert response.status_code == 201
    assert db.session.query(User).one().phone_e164 == PHONE


def test_get_code_unknown_phone_is_404(api):
    response = api.post("/auth/get-code/", {"phone_number": PHONE})
    assert response.status_code == 404


def test_get_code_on_verified_account_sends_new_invite_code_alone(api, app, outbox):
    old_invite = api.verified()
    app.config["CODE_RESEND_COOLDOWN"] = 0
    response = api.post("/auth/get-code/", {"phone_number": PHONE})
    assert response.status_code == 200
    confirmation_code, new_invite = codes_sent_to(outbox, PHONE)
    assert confirmation_code is None
    assert outbox[-1]["text"] == f"Portal: invite code {new_invite}"

    old_login = api.post(
        "/auth/login/", {"phone_number": PHONE, "invite_code": old_invite}
    )
    assert old_login.status_code == 401
    new_login = api.post(
        "/auth/login/", {"phone_number": PHONE, "invite_code": new_invite}
    )
    assert new_login.status_code == 200


def test_get_code_after_sign_in_is_400(api):
    api.member()
    response = api.post("/auth/get-code/", {"phone_number": PHONE})
    assert response.status_code == 400


def test_trailing_slash_is_optional_without_redirect(api):
    response = api.client.post("/api/v1/auth/register", json={"phone_number": PHONE})
    assert response.status_code == 201


def test_list_paging_links_are_absolute(api):
    tokens = api.member(PHONE)
    api.member(OTHER_PHONE)
    page = api.get("/users/list/", token=tokens["access"], limit=1).get_json()
    assert page["count"] == 2
    assert page["next"].startswith("http://localhost/api/v1/users/list/")
    assert page["previous"] is None
    second = api.client.get(
        page["next"], headers={"Authorization": f"Bearer {tokens['access']}"}
    ).get_json()
    assert second["results"][0]["phone_number"] == OTHER_PHONE
    assert second["next"] is None
    assert second["previous"] is not None


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"offset": "1.5"}],
)
def test_list_rejects_bad_paging(api, params):
    tokens = api.member()
    response = api.get("/users/list/", token=tokens["access"], **params)
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) <= {"limit", "offset"}


def test_openapi_lists_every_endpoint(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/auth/register/",
        "/auth/verify-code/",
        "/auth/get-code/",
        "/auth/login/",
        "/auth/verify-token/",
        "/auth/refresh/",
        "/auth/logout/",
        "/auth/reset-password/",
        "/auth/reset-password/confirm/",
        "/users/set-password/",
        "/users/me/",
        "/users/activate-invite/",
        "/users/list/",
    }


def test_refresh_rotates_and_a_reused_token_revokes_the_family(api):
    tokens = api.member()
    response = api.post("/auth/verify-token/", {"refresh": tokens["refresh"]})
    assert response.status_code == 200
    rotated = response.get_json()
    assert rotated["refresh"] != tokens["refresh"]
    assert api.get("/users/me/", token=rotated["access"]).status_code == 200

    reused = api.post("/auth/refresh/", {"refresh": tokens["refresh"]})
    assert reused.status_code == 401
    family_revoked = api.post("/auth/refresh/", {"refresh": rotated["refresh"]})
    assert family_revoked.status_code == 401


def test_logout_revokes_the_refresh_token(api):
    tokens = api.member()
    response = api.post("/auth/logout/", {"refresh": tokens["refresh"]})
    assert response.status_code == 204
    assert response.get_data() == b""
    refused = api.post("/auth/verify-token/", {"refresh": tokens["refresh"]})
    assert refused.status_code == 401


def test_access_and_refresh_tokens_are_not_interchangeable(api):
    tokens = api.member()
    assert api.get("/users/me/", token=tokens["refresh"]).status_code == 401
    response = api.post("/auth/verify-token/", {"refresh": tokens["access"]})
    assert response.status_code == 401


def test_password_reset_sets_a_new_password_and_ends_old_tokens(api, app, outbox):
    tokens = api.with_password()
    app.config["CODE_RESEND_COOLDOWN"] = 0
    response = api.post("/auth/reset-password/", {"phone_number": PHONE})
    assert response.status_code == 200
    confirmation_code, invite_code = codes_sent_to(outbox, PHONE)
    assert invite_code is None

    response = api.post(
        "/auth/reset-password/confirm/",
        {
            "phone_number": PHONE,
            "code": confirmation_code,
            "password": "new pass phrase",
        },
    )
    assert response.status_code == 200
    assert api.get("/users/me/", token=tokens["access"]).status_code == 401
    assert api.get("/users/me/", token=response.get_json()["access"]).status_code == 200
    old = api.post("/auth/login/", {"phone_number": PHONE, "password": PASSWORD})
    assert old.status_code == 401


def test_reset_password_answers_alike_for_unknown_numbers(api, outbox):
    response = api.post("/auth/reset-password/", {"phone_number": OTHER_PHONE})
    assert response.status_code == 200
    assert "If this number has an account" in response.get_json()["message"]
    assert outbox == []
