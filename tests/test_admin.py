"""The admin area: who may see it, what it lists, and what its actions do."""

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, User
from portal.services import accounts
from tests.conftest import OTHER_PHONE, PASSWORD, PHONE, csrf_token

ADMIN_PHONE = "+998977000001"
ADMIN_PASSWORD = "an admin's long password"
UNVERIFIED_PHONE = "+998931112233"
TABLE_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
TABLE_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
TAG = re.compile(r"<[^>]+>")


def web_sign_in(client, phone: str, password: str) -> None:
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client),
            "phone_number": phone,
            "password": password,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def account_rows(response) -> dict[str, list[str]]:
    """The account table as {phone: [cell text, ...]}, in the page's order."""
    rows = {}
    for row_html in TABLE_ROW.findall(response.get_data(as_text=True)):
        cells = [TAG.sub("", cell).strip() for cell in TABLE_CELL.findall(row_html)]
        if cells:
            rows[cells[0].split()[0]] = cells
    return rows


def user_by_phone(phone: str) -> User:
    return db.session.scalar(select(User).where(User.phone_e164 == phone))


def audit_rows() -> list[tuple[str, str, str]]:
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [
        (entry.actor.phone_e164, entry.action, entry.target.phone_e164)
        for entry in entries
    ]


def signed_in_client(app, user: User):
    """A client whose session is the one Flask-Login gives at sign-in."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


@pytest.fixture
def admin_client(app):
    return signed_in_client(app, accounts.create_admin(ADMIN_PHONE, ADMIN_PASSWORD))


@pytest.fixture
def member_client(app, api):
    """A member signed in twice: a browser session, and API tokens."""
    tokens = api.member(PHONE)
    client = signed_in_client(app, user_by_phone(PHONE))
    client.tokens = tokens
    return client


def post_action(client, user_id: int, action: str, confirmed: bool = True, **query):
    form = {"csrf_token": csrf_token(client)}
    if confirmed:
        form["confirmed"] = "yes"
    return client.post(
        f"/admin/users/{user_id}/{action}", query_string=query, data=form
    )


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/admin/users"),
        ("get", "/admin/audit"),
        ("get", "/admin/users/1/deactivate"),
        ("post", "/admin/users/1/deactivate"),
    ],
)
def test_signed_out_people_are_sent_to_the_login_page(client, method, path):
    form = {"csrf_token": csrf_token(client), "confirmed": "yes"}
    response = getattr(client, method)(path, data=form if method == "post" else None)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=%2Fadmin%2F")


@pytest.mark.parametrize(
    "path", ["/admin/users", "/admin/audit", "/admin/users/1/deactivate"]
)
def test_members_get_403_on_admin_pages(member_client, path):
    response = member_client.get(path)

    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in response.get_data(as_text=True)


def test_a_member_cannot_deactivate_anyone(member_client, api):
    api.member(OTHER_PHONE)
    other = user_by_phone(OTHER_PHONE)

    response = post_action(member_client, other.id, "deactivate")

    assert response.status_code == 403
    db.session.refresh(other)
    assert other.is_active is True
    assert audit_rows() == []


def test_the_list_shows_the_columns_an_admin_needs(admin_client, api):
    inviter_code = api.member(PHONE)["invite_code"]
    api.member(OTHER_PHONE, referral_code=inviter_code)
    api.register(UNVERIFIED_PHONE)

    response = admin_client.get("/admin/users")

    assert response.status_code == 200
    rows = account_rows(response)
    assert list(rows) == [ADMIN_PHONE, PHONE, OTHER_PHONE, UNVERIFIED_PHONE]
    joined_today = user_by_phone(PHONE).date_joined.strftime("%Y-%m-%d")
    # phone, verified, password, invite code, invited by, joined, last sign-in
    assert rows[PHONE][:6] == [PHONE, "yes", "no", inviter_code, "—", joined_today]
    assert rows[PHONE][6] != "never"
    assert rows[PHONE][7:] == ["active", "Deactivate"]
    other_code = user_by_phone(OTHER_PHONE).invite_code
    assert rows[OTHER_PHONE][3:5] == [other_code, f"{PHONE} {inviter_code}"]
    assert rows[UNVERIFIED_PHONE][:4] == [UNVERIFIED_PHONE, "no", "no", "not yet used"]
    assert rows[UNVERIFIED_PHONE][6] == "never"
    assert rows[ADMIN_PHONE][0] == f"{ADMIN_PHONE} (admin)"
    assert rows[ADMIN_PHONE][2] == "yes"
    assert rows[ADMIN_PHONE][-1] == "", "an admin has no button against themselves"
    assert "4 accounts." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "status, expected",
    [
        ("all", [ADMIN_PHONE, PHONE, OTHER_PHONE, UNVERIFIED_PHONE]),
        ("members", [PHONE]),
        ("unverified", [UNVERIFIED_PHONE]),
        ("deactivated", [OTHER_PHONE]),
        ("admins", [ADMIN_PHONE]),
        ("no-such-filter", [ADMIN_PHONE, PHONE, OTHER_PHONE, UNVERIFIED_PHONE]),
    ],
)
def test_status_filters(admin_client, api, status, expected):
    api.member(PHONE)
    api.member(OTHER_PHONE)
    api.register(UNVERIFIED_PHONE)
    accounts.set_active(user_by_phone(OTHER_PHONE), False)

    response = admin_client.get("/admin/users", query_string={"status": status})

    assert response.status_code == 200
    assert list(account_rows(response)) == expected


def test_search_matches_phone_digits_and_invite_codes(admin_client, api):
    invite_code = api.member(PHONE)["invite_code"]
    api.register(OTHER_PHONE)

    by_digits = admin_client.get("/admin/users", query_string={"search": "91 123"})
    by_code = admin_client.get(
        "/admin/users", query_string={"search": invite_code[2:7].lower()}
    )
    nothing = admin_client.get("/admin/users", query_string={"search": "%"})

    assert list(account_rows(by_digits)) == [OTHER_PHONE]
    assert list(account_rows(by_code)) == [PHONE]
    assert account_rows(nothing) == {}
    assert "0 accounts." in nothing.get_data(as_text=True)


@pytest.mark.parametrize("config_overrides", [{"DIRECTORY_PAGE_SIZE": 2}])
def test_paging_through_accounts(admin_client, api):
    for number in range(4):
        api.register(f"+99893111{number:04d}")

    first = admin_client.get("/admin/users", query_string={"status": "unverified"})
    second = admin_client.get(
        "/admin/users", query_string={"status": "unverified", "page": 2}
    )
    past_the_end = admin_client.get("/admin/users", query_string={"page": 9})

    assert list(account_rows(first)) == ["+998931110000", "+998931110001"]
    assert 'href="/admin/users?page=2&amp;status=unverified' in first.get_data(
        as_text=True
    )
    assert list(account_rows(second)) == ["+998931110002", "+998931110003"]
    assert 'rel="next"' not in second.get_data(as_text=True)
    assert account_rows(past_the_end) == {}


def test_an_admin_signs_in_with_the_login_form(app):
    accounts.create_admin(ADMIN_PHONE, ADMIN_PASSWORD)
    client = app.test_client()

    web_sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
    response = client.get("/admin/users")

    assert response.status_code == 200
    assert "<h1>Admin: accounts</h1>" in response.get_data(as_text=True)


def test_deactivating_asks_for_confirmation_first(admin_client, api):
    api.member(PHONE)
    member = user_by_phone(PHONE)

    from_the_list = post_action(admin_client, member.id, "deactivate", confirmed=False)
    from_a_link = admin_client.get(f"/admin/users/{member.id}/deactivate")

    for response in (from_the_list, from_a_link):
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert f"Deactivate {PHONE}?" in page
        assert 'name="confirmed" value="yes"' in page
    db.session.refresh(member)
    assert member.is_active is True
    assert audit_rows() == []


def test_deactivation_ends_sessions_and_tokens_and_is_audited(
    admin_client, member_client, api
):
    member = user_by_phone(PHONE)
    assert member_client.get("/me").status_code == 200

    response = post_action(
        admin_client, member.id, "deactivate", status="members", search="90"
    )

    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/admin/users?status=members&search=90"
    assert f"{PHONE} is deactivated." in admin_client.get("/admin/users").get_data(
        as_text=True
    )
    db.session.refresh(member)
    assert member.is_active is False
    assert audit_rows() == [(ADMIN_PHONE, "deactivate", PHONE)]

    signed_out = member_client.get("/me")
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"] == "/login?next=%2Fme"
    access = member_client.tokens["access"]
    assert api.get("/users/me/", token=access).status_code == 401
    refresh = api.post("/auth/refresh/", {"refresh": member_client.tokens["refresh"]})
    assert refresh.status_code == 401, refresh.get_json()
    login = api.post(
        "/auth/login/",
        {"phone_number": PHONE, "invite_code": member_client.tokens["invite_code"]},
    )
    assert login.status_code in (401, 403)


def test_reactivation_lets_the_member_sign_in_again(admin_client, api):
    api.with_password(PHONE)
    member = user_by_phone(PHONE)
    post_action(admin_client, member.id, "deactivate")
    refused = api.post("/auth/login/", {"phone_number": PHONE, "password": PASSWORD})

    response = post_action(admin_client, member.id, "reactivate")

    assert refused.status_code == 403
    assert response.status_code == 302
    db.session.refresh(member)
    assert member.is_active is True
    login = api.post("/auth/login/", {"phone_number": PHONE, "password": PASSWORD})
    assert login.status_code == 200
    assert audit_rows() == [
        (ADMIN_PHONE, "deactivate", PHONE),
        (ADMIN_PHONE, "reactivate", PHONE),
    ]


def test_the_audit_page_lists_actions_newest_first(admin_client, api):
    api.member(PHONE)
    api.member(OTHER_PHONE)
    post_action(admin_client, user_by_phone(PHONE).id, "deactivate")
    post_action(admin_client, user_by_phone(OTHER_PHONE).id, "deactivate")
    post_action(admin_client, user_by_phone(PHONE).id, "reactivate")

    response = admin_client.get("/admin/audit")

    assert response.status_code == 200
    rows = [
        [TAG.sub("", cell).strip() for cell in TABLE_CELL.findall(row_html)][1:]
        for row_html in TABLE_ROW.findall(response.get_data(as_text=True))[1:]
    ]
    assert rows == [
        [ADMIN_PHONE, "reactivate", PHONE],
        [ADMIN_PHONE, "deactivate", OTHER_PHONE],
        [ADMIN_PHONE, "deactivate", PHONE],
    ]


def test_an_admin_cannot_deactivate_themselves(admin_client):
    admin = user_by_phone(ADMIN_PHONE)

    response = post_action(admin_client, admin.id, "deactivate")

    assert response.status_code == 302
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert "You cannot deactivate your own account." in page
    db.session.refresh(admin)
    assert admin.is_active is True
    assert audit_rows() == []


def test_repeating_an_action_changes_nothing_and_is_not_audited(admin_client, api):
    api.member(PHONE)
    member = user_by_phone(PHONE)
    post_action(admin_client, member.id, "deactivate")
    version_after_first = user_by_phone(PHONE).token_version

    response = post_action(admin_client, member.id, "deactivate")

    assert response.status_code == 302
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert f"{PHONE} is already deactivated." in page
    db.session.refresh(member)
    assert member.token_version == version_after_first
    assert audit_rows() == [(ADMIN_PHONE, "deactivate", PHONE)]


def test_an_action_without_a_csrf_token_is_refused(admin_client, api):
    api.member(PHONE)
    member = user_by_phone(PHONE)

    response = admin_client.post(
        f"/admin/users/{member.id}/deactivate", data={"confirmed": "yes"}
    )

    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    db.session.refresh(member)
    assert member.is_active is True
    assert audit_rows() == []


@pytest.mark.parametrize(
    "path", ["/admin/users/999/deactivate", "/admin/users/1/delete"]
)
def test_unknown_accounts_and_actions_are_404(admin_client, path):
    response = admin_client.get(path)

    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.get_data(as_text=True)
