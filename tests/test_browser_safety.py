"""Browser safety: redirects, CSRF with htmx, headers and cookies (issue 3.4)."""

import os
import re
from pathlib import Path

import pytest

from portal.config import Config, DevConfig
from portal.web.views import is_safe_next
from tests.conftest import PASSWORD, PHONE, csrf_token, make_app
from tests.security_helpers import (
    CSRF_HEADER,
    is_signed_in,
    web_sign_in,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
UNSAFE_NEXT = [
    "//evil.example",
    "///evil.example",
    "//evil.example/users",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "\\/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    " /users",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: a=b",
    "/users\x00",
    "/users\x7f",
    "",
    None,
]
SAFE_NEXT = ["/users", "/users?search=90&page=2", "/me#invited", "/%2F%2Fevil.example"]


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_unsafe_next_is_refused(target):
    assert not is_safe_next(target)


@pytest.mark.parametrize("target", SAFE_NEXT)
def test_local_next_is_allowed(target):
    assert is_safe_next(target)


@pytest.fixture
def member_with_password(api):
    return api.with_password()


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "https://evil.example/"]
)
def test_sign_in_never_redirects_off_site(client, member_with_password, target):
    response = web_sign_in(
        client, PHONE, password=PASSWORD, query=f"?next={target.replace('/', '%2F')}"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"

    already_signed_in = client.get("/login", query_string={"next": target})
    assert already_signed_in.headers["Location"] == "/me"


def test_sign_in_returns_to_the_page_that_asked_for_it(client, member_with_password):
    bounced = client.get("/users?search=90")
    assert bounced.status_code == 302
    login_path = bounced.headers["Location"]
    assert login_path.startswith("/login?next=")

    response = web_sign_in(
        client, PHONE, password=PASSWORD, query=login_path.removeprefix("/login")
    )

    assert response.headers["Location"] == "/users?search=90"


def htmx_csrf_token(client) -> str:
    """The token base.html hands to htmx through hx-headers."""
    page = client.get("/me").get_data(as_text=True)
    return CSRF_HEADER.search(page).group(1)


def test_post_without_csrf_token_is_refused(client, member_with_password):
    web_sign_in(client, PHONE, password=PASSWORD)

    response = client.post("/logout")

    assert response.status_code == 400
    assert "The form expired or was sent from another site" in response.get_data(
        as_text=True
    )
    assert is_signed_in(client)


def test_htmx_post_with_the_token_in_the_header_is_accepted(
    client, member_with_password
):
    web_sign_in(client, PHONE, password=PASSWORD)

    response = client.post(
        "/logout",
        headers={"HX-Request": "true", "X-CSRFToken": htmx_csrf_token(client)},
    )

    assert response.status_code == 302
    assert not is_signed_in(client)


def test_csrf_token_of_another_session_is_refused(app, client, member_with_password):
    attacker = app.test_client()
    attackers_token = csrf_token(attacker)
    web_sign_in(client, PHONE, password=PASSWORD)

    response = client.post("/logout", data={"csrf_token": attackers_token})
    assert response.status_code == 400
    response = client.post("/logout", headers={"X-CSRFToken": attackers_token})
    assert response.status_code == 400
    assert is_signed_in(client)


def test_the_api_never_accepts_the_browser_session(client, member_with_password):
    """The API is exempt from CSRF because it reads only bearer tokens."""
    web_sign_in(client, PHONE, password=PASSWORD)

    assert client.get("/api/v1/users/me/").status_code == 401
    response = client.post(
        "/api/v1/users/set-password/", json={"password": "a cross-site password"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path", ["/", "/login", "/register", "/api/v1/users/me/", "/nowhere", "/api/v1/x"]
)
def test_security_headers_on_pages_api_and_errors(client, path):
    response = client.get(path)

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_templates_have_no_inline_script_style_or_handlers():
    """What the CSP forbids must not be needed by any page."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    style_attribute = re.compile(r"\sstyle\s*=|<style", re.IGNORECASE)
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not inline_script.search(text), template.name
        assert not handler.search(text), template.name
        assert not style_attribute.search(text), template.name
        assert "javascript:" not in text, template.name


def session_cookie_header(response) -> str:
    cookies = response.headers.getlist("Set-Cookie")
    return next(cookie for cookie in cookies if cookie.startswith("session="))


def test_session_cookie_is_http_only_and_same_site_lax(client, member_with_password):
    response = web_sign_in(client, PHONE, password=PASSWORD)

    cookie = session_cookie_header(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.skipif(
    "SESSION_COOKIE_SECURE" in os.environ, reason="the environment sets the flag"
)
def test_session_cookie_is_secure_outside_debug():
    assert Config.SESSION_COOKIE_SECURE is True
    assert DevConfig.SESSION_COOKIE_SECURE is False

    production_like = make_app(
        "sqlite://", SESSION_COOKIE_SECURE=Config.SESSION_COOKIE_SECURE
    )
    with production_like.app_context():
        from portal.extensions import db

        db.create_all()
        browser = production_like.test_client()
        response = browser.get("/login", base_url="https://localhost")
        cookie = session_cookie_header(response)
        db.engine.dispose()

    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
