"""Bad input gets a clear 4xx with field errors, on SQLite and PostgreSQL (3.5)."""

import json

import pytest

from portal.api.input import MAX_FIELD_LENGTH, MAX_TOKEN_LENGTH
from portal.services import accounts
from tests.conftest import OTHER_PHONE, PASSWORD, PHONE, csrf_token
from tests.security_helpers import web_sign_in

# A body for each POST endpoint that is right in shape, so one field at a
# time can be spoiled; `bearer` marks the endpoints that need a token.
BODIES = {
    "/auth/register/": {"phone_number": PHONE, "referral_code": "ABCDEFGH"},
    "/auth/verify-code/": {"phone_number": PHONE, "code": "123456"},
    "/auth/get-code/": {"phone_number": PHONE},
    "/auth/login/": {"phone_number": PHONE, "password": "some password"},
    "/auth/refresh/": {"refresh": "x.y.z"},
    "/auth/verify-token/": {"refresh": "x.y.z"},
    "/auth/logout/": {"refresh": "x.y.z"},
    "/auth/reset-password/": {"phone_number": PHONE},
    "/auth/reset-password/confirm/": {
        "phone_number": PHONE,
        "code": "123456",
        "password": "a new password",
    },
    "/users/set-password/": {"password": "a new password"},
    "/users/activate-invite/": {"invite_code": "ABCDEFGH"},
}
WRONG_TYPES = [123, 1.5, True, [], {}, [PHONE], {"value": PHONE}]
BLANKS = [None, "", " ", "\t\n "]
NON_ASCII_PHONES = [
    "+٩٩٨٩٠١٢٣٤٥٦٧",  # Arabic-Indic digits
    "+۹۹۸۹۰۱۲۳۴۵۶۷",  # Extended Arabic-Indic digits
    "+９９８９０１２３４５６７",  # fullwidth digits
    "+९९८९०१२३४५६७",  # Devanagari digits
    "+998 90 １２３ 45 67",
]
NON_ASCII_CODES = ["١٢٣٤٥٦", "１２３４５６", "१२३४५६", "12345٦"]


@pytest.fixture
def token(api):
    return api.member(OTHER_PHONE)["access"]


def post_raw(client, path, data, content_type="application/json", token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        f"/api/v1{path}", data=data, content_type=content_type, headers=headers
    )


def assert_field_error(response, field: str, message: str | None = None) -> None:
    assert response.status_code == 400, response.get_json()
    errors = response.get_json()["errors"]
    assert errors[field], errors
    if message:
        assert errors[field] == [message]


def test_body_over_the_size_limit_is_413(client, token):
    for path, body in BODIES.items():
        too_large = json.dumps({**body, "padding": "x" * 70_000})

        response = post_raw(client, path, too_large, token=token)

        assert response.status_code == 413, path
        assert response.get_json() == {
            "message": "The request body is too large.",
            "errors": {},
        }


def test_form_over_the_size_limit_is_a_413_page(client):
    response = client.post("/register", data={"phone_number": "1" * 70_000})

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "The request body is too large." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""],
)
def test_body_that_is_not_json_is_415(client, token, content_type):
    for path, body in BODIES.items():
        response = post_raw(client, path, json.dumps(body), content_type, token)

        assert response.status_code == 415, path
        assert response.get_json()["message"] == "Send the body as application/json."


NOT_OBJECTS = [
    "[]",
    '["phone_number"]',
    '"+998901234567"',
    "1",
    "null",
    "true",
    "",
    "{",
    "{'phone_number': '+998901234567'}",
    '{"phone_number": "+998901234567",}',
    b'{"phone_number": "\xff\xfe"}',
    "[" * 20_000,
    '{"a":' * 10_000 + "1" + "}" * 10_000,
]


def test_body_that_is_not_a_json_object_is_400(client, token):
    for raw_body in NOT_OBJECTS:
        for path in BODIES:
            response = post_raw(client, path, raw_body, token=token)

            assert response.status_code == 400, (path, raw_body[:24])
            message = response.get_json()["message"]
            assert message == "The body must be a JSON object."


@pytest.mark.parametrize("path", BODIES)
def test_field_of_the_wrong_type_is_400(api, token, path):
    for field in BODIES[path]:
        for wrong_value in WRONG_TYPES:
            body = {**BODIES[path], field: wrong_value}

            response = api.post(path, body, token=token)

            assert_field_error(response, field, "Must be a string.")


def required_message(path: str, field: str) -> str:
    if (path, field) == ("/auth/login/", "password"):
        return "Send a password, or an invite_code for a first sign-in."
    return "This field is required."


@pytest.mark.parametrize("path", BODIES)
def test_missing_null_or_blank_field_is_400(api, token, path):
    for field in BODIES[path]:
        if field == "referral_code":
            continue
        message = required_message(path, field)
        for blank in BLANKS:
            body = {**BODIES[path], field: blank}
            assert_field_error(api.post(path, body, token=token), field, message)

        del body[field]
        assert_field_error(api.post(path, body, token=token), field, message)


@pytest.mark.parametrize("path", BODIES)
def test_nul_surrogates_and_very_long_strings_are_400(client, token, path):
    for field in BODIES[path]:
        longest = MAX_TOKEN_LENGTH if field == "refresh" else MAX_FIELD_LENGTH
        spoiled = {
            "\ud800 surrogate": "Must be valid Unicode text.",
            "x" * 10_000: f"Must be at most {longest} characters.",
        }
        for text, message in spoiled.items():
            body = json.dumps({**BODIES[path], field: text})

            response = post_raw(client, path, body, token=token)

            assert_field_error(response, field, message)


@pytest.mark.parametrize("path", BODIES)
def test_nul_characters_never_reach_the_database(client, token, path):
    """Each service refuses a NUL its own way; a password may hold one."""
    for field in BODIES[path]:
        body = json.dumps({**BODIES[path], field: "+99890\x00123 ABC\x00DEFGH"})

        response = post_raw(client, path, body, token=token)

        assert response.status_code < 500, (path, field)
        if field == "refresh" or (path, field) == ("/auth/login/", "invite_code"):
            assert response.status_code == 401
        elif field != "password":
            assert_field_error(response, field)


@pytest.mark.parametrize(
    "path", ["/auth/register/", "/auth/get-code/", "/auth/reset-password/"]
)
def test_non_ascii_digits_in_a_phone_number_are_a_field_error(api, outbox, path):
    for phone in NON_ASCII_PHONES:
        response = api.post(path, {"phone_number": phone})

        message = "Enter a valid mobile phone number."
        assert_field_error(response, "phone_number", message)
    assert outbox == []


def test_non_ascii_digits_in_a_code_are_a_field_error(api):
    api.register()

    for code in NON_ASCII_CODES:
        body = {"phone_number": PHONE, "code": code}
        response = api.post("/auth/verify-code/", body)

        assert_field_error(response, "code", accounts.BAD_CODE)


def test_bad_phone_in_a_form_is_a_field_error_on_the_page(client):
    for phone in ["+998901234567\x00", "x" * 40, NON_ASCII_PHONES[0], "+998 90 123"]:
        form = {"phone_number": phone, "csrf_token": csrf_token(client)}

        response = client.post("/register", data=form)

        assert response.status_code == 400, phone
        assert 'id="phone_number-errors"' in response.get_data(as_text=True)


BAD_PAGING = [
    ("limit", "-1", "Must be a whole number."),
    ("limit", "0", "Must be from 1 to 100."),
    ("limit", "101", "Must be from 1 to 100."),
    ("limit", "9" * 30, "Must be a whole number."),
    ("limit", "ten", "Must be a whole number."),
    ("limit", "1.5", "Must be a whole number."),
    ("limit", "1e3", "Must be a whole number."),
    ("limit", "١٠", "Must be a whole number."),
    ("limit", "", "Must be a whole number."),
    ("offset", "-1", "Must be a whole number."),
    ("offset", "9" * 30, "Must be a whole number."),
    ("offset", "NaN", "Must be a whole number."),
    ("offset", "0x10", "Must be a whole number."),
]


def test_bad_paging_values_are_400(api, token):
    for name, value, message in BAD_PAGING:
        response = api.get("/users/list/", token=token, **{name: value})

        assert_field_error(response, name, message)


def test_far_offset_is_an_empty_page(api, token):
    response = api.get("/users/list/", token=token, offset="999999999", limit="100")

    assert response.status_code == 200
    page = response.get_json()
    assert page["count"] == 1
    assert page["results"] == []
    assert page["next"] is None


@pytest.fixture
def browser(api, app):
    """A signed-in browser, with one other member in the directory."""
    api.member(OTHER_PHONE)
    api.with_password(PHONE)
    signed_in_browser = app.test_client()
    web_sign_in(signed_in_browser, PHONE, password=PASSWORD)
    return signed_in_browser


def test_bad_page_numbers_on_the_pages_show_page_one(browser):
    for page in ["-1", "0", "abc", "1e3", "9" * 30, "١", ""]:
        response = browser.get("/users", query_string={"page": page})

        assert response.status_code == 200, page
        assert OTHER_PHONE in response.get_data(as_text=True)


def test_page_far_beyond_the_end_is_an_empty_page(browser):
    response = browser.get("/users", query_string={"page": "999999"})

    assert response.status_code == 200
    assert OTHER_PHONE not in response.get_data(as_text=True)


@pytest.fixture
def two_members(api):
    """Two members; the second one's token and the first one's invite code."""
    first = api.member(PHONE)
    second = api.member(OTHER_PHONE)
    return {"token": second["access"], "invite_code": first["invite_code"]}


def wildcard_searches(invite_code: str) -> list[str]:
    """Each would match some member if `%`, `_` or `\\` kept their LIKE meaning."""
    return [
        "%",
        "_",
        "%%",
        "\\",
        "\\%",
        "9%1",
        "+998%",
        invite_code[:2] + "_" + invite_code[3:5],
        invite_code[:2] + "%" + invite_code[-2:],
    ]


def test_like_wildcards_match_literally_in_the_api(api, two_members):
    for search in wildcard_searches(two_members["invite_code"]):
        response = api.get("/users/list/", token=two_members["token"], search=search)
        assert response.status_code == 200, search
        assert response.get_json()["count"] == 0, search

    response = api.get(
        "/users/list/", token=two_members["token"], search=two_members["invite_code"]
    )
    assert response.get_json()["count"] == 1


def test_like_wildcards_match_literally_on_the_pages(api, app, two_members):
    api.post("/users/set-password/", {"password": PASSWORD}, token=two_members["token"])
    browser = app.test_client()
    web_sign_in(browser, OTHER_PHONE, password=PASSWORD)

    for search in wildcard_searches(two_members["invite_code"]):
        response = browser.get("/users", query_string={"search": search})
        assert response.status_code == 200, search
        assert PHONE not in response.get_data(as_text=True), search


# Each with the count it should find among the two members.
ODD_SEARCHES = [
    ({"search": "a\x00b"}, 0),
    ({"search": "77\x00777"}, 0),
    ({"search": "\x00"}, 0),
    ({"invited_by": "AB\x00CDEFG"}, 0),
    ({"invited_by": "x" * 500}, 0),
    ({"search": "x" * 5000}, 0),
]


def test_odd_search_text_is_answered_not_crashed(api, two_members):
    for params, expected_count in ODD_SEARCHES:
        response = api.get("/users/list/", token=two_members["token"], **params)

        assert response.status_code == 200, params
        assert response.get_json()["count"] == expected_count, params


def test_odd_invite_codes_are_field_errors(api, two_members):
    for code in ["AB\x00CDEFG", "ABCDEFGHIJKLMNOP" * 4, "ключ", "%", "_"]:
        response = api.post(
            "/users/activate-invite/", {"invite_code": code}, token=two_members["token"]
        )
        assert_field_error(response, "invite_code")

        body = {"phone_number": "+998931234567", "referral_code": code}
        assert_field_error(api.post("/auth/register/", body), "referral_code")


def test_admin_account_id_beyond_any_row_is_404(app):
    accounts.create_admin("+998935550000", "admin password for tests")
    browser = app.test_client()
    web_sign_in(browser, "+998935550000", password="admin password for tests")

    for user_id in ("99999999999999999999", "2147483648", "0"):
        response = browser.get(f"/admin/users/{user_id}/deactivate")
        assert response.status_code == 404, user_id
    assert browser.get("/admin/users/4242/deactivate").status_code == 404
