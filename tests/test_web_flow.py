"""The whole sign-up flow through the HTML pages, with CSRF on every form."""

import pytest

from portal.extensions import db
from portal.models import User
from tests.conftest import (
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    codes_sent_to,
    csrf_token,
    submit,
)


def results_region(page: str) -> str:
    """The directory's results, without the header's signed-in phone number."""
    return page.split('<div id="results"', 1)[1]


def sign_up_and_sign_in(client, outbox, phone: str = PHONE) -> str:
    """Register, confirm and sign in with the invite code; return the code."""
    submit(client, "/register", {"phone_number": phone})
    confirmation_code, invite_code = codes_sent_to(outbox, phone)
    submit(client, "/verify", {"phone_number": phone, "code": confirmation_code})
    response = submit(
        client, "/login", {"phone_number": phone, "invite_code": invite_code}
    )
    assert response.headers["Location"] == "/set-password"
    return invite_code


def test_full_flow_in_the_browser_faces(client, outbox):
    response = submit(client, "/register", {"phone_number": "+998 90 123 45 67"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/verify?phone_number=%2B998901234567"

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "We sent a confirmation code and your invite code by SMS." in page
    assert 'value="+998901234567"' in page
    assert 'autocomplete="one-time-code"' in page
    assert 'inputmode="numeric"' in page

    confirmation_code, invite_code = codes_sent_to(outbox, PHONE)
    response = submit(
        client, "/verify", {"phone_number": PHONE, "code": confirmation_code}
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?phone_number=")

    response = submit(
        client, "/login", {"phone_number": PHONE, "invite_code": invite_code}
    )
    assert response.headers["Location"] == "/set-password"

    response = submit(
        client,
        "/set-password",
        {"password": PASSWORD, "password_confirm": PASSWORD},
    )
    assert response.headers["Location"] == "/me"
    profile = client.get("/me").get_data(as_text=True)
    assert PHONE in profile
    assert invite_code in profile

    response = submit(client, "/logout", {}, page="/me")
    assert response.status_code == 302
    assert client.get("/me").status_code == 302

    response = submit(client, "/login", {"phone_number": PHONE, "password": PASSWORD})
    assert response.headers["Location"] == "/me"

    page = client.get("/users?search=90+123").get_data(as_text=True)
    results = results_region(page)
    assert "1 member matches" in results
    assert PHONE in results


def test_wrong_code_is_shown_beside_the_field(client, outbox):
    submit(client, "/register", {"phone_number": PHONE})
    response = submit(client, "/verify", {"phone_number": PHONE, "code": "000000"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'class="field-errors" id="code-errors"' in page
    assert "The code is wrong, used or expired." in page
    assert db.session.scalar(db.select(User.is_verified)) is False


def test_form_without_csrf_token_is_refused(client, outbox):
    response = client.post("/register", data={"phone_number": PHONE})
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    assert outbox == []


def test_invalid_phone_shows_field_error_and_writes_nothing(client):
    response = submit(client, "/register", {"phone_number": "12345"})
    assert response.status_code == 400
    assert "Enter a valid mobile phone number." in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_resend_inside_cooldown_says_how_long_to_wait(client, outbox):
    submit(client, "/register", {"phone_number": PHONE})
    response = submit(
        client,
        "/verify/resend",
        {"phone_number": PHONE},
        page=f"/verify?phone_number={PHONE}",
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Please wait" in page
    assert len(outbox) == 1


def test_wrong_password_page_shows_one_message(client, outbox):
    sign_up_and_sign_in(client, outbox)
    submit(client, "/logout", {}, page="/me")
    response = submit(
        client, "/login", {"phone_number": PHONE, "password": "not the password"}
    )
    assert response.status_code == 401
    assert "The phone number, invite code or password is wrong." in response.get_data(
        as_text=True
    )


def test_weak_password_is_refused_beside_the_field(client, outbox):
    sign_up_and_sign_in(client, outbox)
    response = submit(
        client,
        "/set-password",
        {"password": "password1", "password_confirm": "password1"},
    )
    assert response.status_code == 400
    assert "This password is too common." in response.get_data(as_text=True)


def test_directory_answers_htmx_with_the_partial_only(client, outbox):
    sign_up_and_sign_in(client, outbox, PHONE)
    submit(client, "/logout", {}, page="/me")
    sign_up_and_sign_in(client, outbox, OTHER_PHONE)

    full_page = client.get("/users").get_data(as_text=True)
    assert "<html" in full_page
    assert 'aria-live="polite"' in full_page
    assert 'hx-get="/users"' in full_page

    partial = client.get("/users?search=91", headers={"HX-Request": "true"})
    partial_html = partial.get_data(as_text=True)
    assert "<html" not in partial_html
    assert OTHER_PHONE in partial_html
    assert PHONE not in partial_html


def test_directory_pages_through_members(app, client, outbox):
    app.config["DIRECTORY_PAGE_SIZE"] = 1
    sign_up_and_sign_in(client, outbox, PHONE)
    submit(client, "/logout", {}, page="/me")
    sign_up_and_sign_in(client, outbox, OTHER_PHONE)

    first = results_region(client.get("/users").get_data(as_text=True))
    assert PHONE in first and OTHER_PHONE not in first
    assert 'href="/users?page=2"' in first
    second = results_region(client.get("/users?page=2").get_data(as_text=True))
    assert OTHER_PHONE in second and PHONE not in second


@pytest.mark.parametrize(
    "next_path", ["//evil.example/", "https://evil.example/", "/\\evil"]
)
def test_login_never_redirects_off_site(client, outbox, next_path):
    sign_up_and_sign_in(client, outbox)
    submit(
        client, "/set-password", {"password": PASSWORD, "password_confirm": PASSWORD}
    )
    submit(client, "/logout", {}, page="/me")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        query_string={"next": next_path},
        data={"csrf_token": token, "phone_number": PHONE, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/me"


def test_signed_out_visitor_is_sent_to_login_with_next(client):
    response = client.get("/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_error_pages_use_the_site_layout(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Page not found" in page
    assert "<strong>Portal</strong>" in page


def test_outbox_is_hidden_outside_debug(client):
    assert client.get("/dev/outbox").status_code == 404
    assert client.get("/dev/outbox.json").status_code == 404


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_member_activates_an_invite_code_on_the_profile_page(client, outbox):
    inviter_code = sign_up_and_sign_in(client, outbox, PHONE)
    submit(client, "/logout", {}, page="/me")
    sign_up_and_sign_in(client, outbox, OTHER_PHONE)

    response = submit(client, "/me", {"invite_code": inviter_code.lower()})
    assert response.status_code == 302
    profile = client.get("/me").get_data(as_text=True)
    assert "The invite code is activated." in profile
    assert f"You activated the invite code <code>{inviter_code}</code>" in profile


def test_api_docs_page_loads_swagger_ui_from_static(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    assert "<script>" not in page


def test_signed_out_htmx_search_is_told_to_load_the_login_page(client):
    response = client.get("/users?search=90", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")
    assert response.get_data() == b""
