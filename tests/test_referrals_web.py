"""Referrals in the HTML pages, through forms with CSRF on, on both databases.

What a person sees when the referral code they gave at sign-up can no
longer be activated at their first sign-in: they are signed in and sent to
`/set-password` as usual, with an alert above the form naming the code and
the reason; `/me` then offers the form to activate another member's code.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import User, utcnow
from portal.services import accounts
from tests.conftest import PASSWORD, codes_sent_to, csrf_token, stored_member, submit

INVITER = "+998901000001"
NEWCOMER = "+998901000002"
THIRD = "+998901000003"
ADMIN = "+998909999999"
UNKNOWN_CODE = "No member has this invite code."
INVITED_YOU = "This member activated your invite code, so you cannot activate theirs."


def phone(number: int) -> str:
    return f"+99890{2000000 + number}"


def user_row(phone_e164: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.phone_e164 == phone_e164))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def field_errors(page: str, field_name: str) -> list[str]:
    """The errors printed beside a field by the `_forms.html` macro."""
    found = re.search(
        rf'<ul class="field-errors" id="{field_name}-errors">(.*?)</ul>', page, re.S
    )
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def alerts(page: str) -> list[str]:
    return re.findall(r'<p class="flash flash-error" role="alert">(.*?)</p>', page)


def web_sign_up(app, outbox, phone_e164: str, referral_code: str = ""):
    """Register, confirm and sign in once through the pages; the signed-in client."""
    client = app.test_client()
    registered = submit(
        client,
        "/register",
        {"phone_number": phone_e164, "referral_code": referral_code},
    )
    assert registered.status_code == 302, text_of(registered)
    confirmation_code, invite_code = codes_sent_to(outbox, phone_e164)
    verified = submit(
        client, "/verify", {"phone_number": phone_e164, "code": confirmation_code}
    )
    assert verified.status_code == 302
    signed_in = submit(
        client, "/login", {"phone_number": phone_e164, "invite_code": invite_code}
    )
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/set-password"
    client.invite_code = invite_code
    return client


def web_sign_in(app, phone_e164: str, password: str = PASSWORD):
    client = app.test_client()
    response = submit(
        client, "/login", {"phone_number": phone_e164, "password": password}
    )
    assert response.status_code == 302
    return client


# Registration with a referral code.


@pytest.mark.parametrize("case", ["unknown", "unused", "deactivated member"])
def test_sign_up_form_refuses_a_bad_referral_code_before_any_sms(
    app, api, outbox, case
):
    if case == "unknown":
        code = "ABCDEFGH"
    elif case == "unused":
        code = api.verified(THIRD)
    else:
        code = api.member(THIRD)["invite_code"]
        accounts.set_active(user_row(THIRD), False)
    sent_before = len(outbox)
    client = app.test_client()

    response = submit(
        client, "/register", {"phone_number": NEWCOMER, "referral_code": code}
    )

    assert response.status_code == 400
    page = text_of(response)
    assert field_errors(page, "referral_code") == [UNKNOWN_CODE]
    assert field_errors(page, "phone_number") == []
    assert 'aria-invalid="true"' in page
    assert len(outbox) == sent_before
    assert user_row(NEWCOMER) is None


def test_a_shared_sign_up_link_fills_in_the_referral_code(app):
    page = text_of(app.test_client().get("/register?referral_code=K7QM2XPA"))
    assert re.search(r'name="referral_code"[^>]*value="K7QM2XPA"', page)


def test_sign_up_with_a_referral_code_activates_it_at_the_first_sign_in(app, outbox):
    inviter = web_sign_up(app, outbox, INVITER)

    newcomer = web_sign_up(app, outbox, NEWCOMER, inviter.invite_code.lower())

    newcomer_page = text_of(newcomer.get("/me"))
    assert (
        f"You activated the invite code <code>{inviter.invite_code}</code>."
        in newcomer_page
    )
    assert 'name="invite_code"' not in newcomer_page
    assert NEWCOMER in text_of(inviter.get("/me"))
    assert user_row(NEWCOMER).invited_by_id == user_row(INVITER).id


def test_a_referral_refused_at_the_first_sign_in_is_shown_and_does_not_block_it(
    app, api, outbox
):
    inviter_code = api.member(INVITER)["invite_code"]
    client = app.test_client()
    assert (
        submit(
            client,
            "/register",
            {"phone_number": NEWCOMER, "referral_code": inviter_code},
        ).status_code
        == 302
    )
    confirmation_code, invite_code = codes_sent_to(outbox, NEWCOMER)
    submit(client, "/verify", {"phone_number": NEWCOMER, "code": confirmation_code})
    accounts.set_active(user_row(INVITER), False)

    response = submit(
        client, "/login", {"phone_number": NEWCOMER, "invite_code": invite_code}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/set-password"
    next_page = text_of(client.get("/set-password"))
    assert alerts(next_page) == [
        f"The referral code {inviter_code} could not be activated: {UNKNOWN_CODE} "
        "You can activate another member&#39;s code on your profile."
    ]
    profile = text_of(client.get("/me"))
    assert 'name="invite_code"' in profile
    assert user_row(NEWCOMER).invited_by_id is None


# The activation form on /me.


def test_the_profile_form_activates_a_members_code(app, api, outbox):
    inviter_code = api.member(INVITER)["invite_code"]
    client = web_sign_up(app, outbox, NEWCOMER)

    response = submit(client, "/me", {"invite_code": f" {inviter_code.lower()} "})

    assert response.status_code == 302
    assert response.headers["Location"] == "/me"
    page = text_of(client.get("/me"))
    assert "The invite code is activated." in page
    assert f"You activated the invite code <code>{inviter_code}</code>." in page
    assert 'name="invite_code"' not in page
    assert user_row(NEWCOMER).invited_by_id == user_row(INVITER).id


@pytest.mark.parametrize(
    "case", ["own code", "unused code", "unknown code", "invited you", "blank"]
)
def test_the_profile_form_shows_refusals_beside_the_field(app, api, outbox, case):
    client = web_sign_up(app, outbox, NEWCOMER)
    if case == "own code":
        code, message = client.invite_code, "This is your own invite code."
    elif case == "unused code":
        code, message = api.verified(THIRD), UNKNOWN_CODE
    elif case == "unknown code":
        code, message = "ABCDEFGH", UNKNOWN_CODE
    elif case == "invited you":
        invitee = api.member(THIRD, referral_code=client.invite_code)
        code, message = invitee["invite_code"], INVITED_YOU
    else:
        code, message = "  ", "Enter an invite code."

    response = submit(client, "/me", {"invite_code": code})

    assert response.status_code == 400
    page = text_of(response)
    assert field_errors(page, "invite_code") == [message.replace("'", "&#39;")]
    assert alerts(page) == []
    assert user_row(NEWCOMER).invited_by_id is None


def test_a_second_activation_from_a_stale_profile_page_is_409(app, api, outbox):
    first_code = api.member(INVITER)["invite_code"]
    second_code = api.member(THIRD)["invite_code"]
    client = web_sign_up(app, outbox, NEWCOMER)
    stale_token = csrf_token(client, "/me")
    assert submit(client, "/me", {"invite_code": first_code}).status_code == 302

    response = client.post(
        "/me", data={"invite_code": second_code, "csrf_token": stale_token}
    )

    assert response.status_code == 409
    page = text_of(response)
    assert alerts(page) == ["You have already activated an invite code."]
    assert f"You activated the invite code <code>{first_code}</code>." in page
    assert user_row(NEWCOMER).invited_by_id == user_row(INVITER).id


def test_the_profile_form_needs_its_csrf_token(app, api, outbox):
    inviter_code = api.member(INVITER)["invite_code"]
    client = web_sign_up(app, outbox, NEWCOMER)

    response = client.post("/me", data={"invite_code": inviter_code})

    assert response.status_code == 400
    assert "The form expired" in text_of(response)
    assert user_row(NEWCOMER).invited_by_id is None


def test_an_admin_gets_no_activation_form(app, api):
    inviter_code = api.member(INVITER)["invite_code"]
    accounts.create_admin(ADMIN, PASSWORD)
    client = web_sign_in(app, ADMIN)

    page = text_of(client.get("/me"))
    assert 'name="invite_code"' not in page

    response = submit(client, "/me", {"invite_code": inviter_code})
    assert response.status_code == 403
    assert alerts(text_of(response)) == ["Only members can activate an invite code."]
    assert user_row(ADMIN).invited_by_id is None


# The list of invited members on /me.


def directory_row(client, member_phone: str) -> str:
    """The member's row exactly as the directory prints it."""
    page = text_of(client.get("/users", query_string={"search": member_phone[-7:]}))
    return member_row(page, member_phone)


def member_row(page: str, member_phone: str) -> str:
    rows = re.findall(r"<tr>(?:(?!</tr>).)*</tr>", page, re.S)
    matching = [row for row in rows if member_phone in row]
    assert len(matching) == 1, (member_phone, rows)
    return " ".join(matching[0].split())


def listed_phones(page: str) -> list[str]:
    section = page.split("Members you invited", 1)[1]
    return re.findall(r"\+998\d{9}", section)


def test_the_profile_pages_invited_members_newest_first_past_20(app, api, outbox):
    inviter_client = web_sign_up(app, outbox, INVITER)
    inviter = user_row(INVITER)
    start = utcnow() - timedelta(hours=1)
    for number in range(25):
        stored_member(
            phone(number),
            invited_by_id=inviter.id,
            invited_at=start + timedelta(minutes=number),
        )
    newest_first = [phone(number) for number in reversed(range(25))]

    first_page = text_of(inviter_client.get("/me"))
    second_page = text_of(inviter_client.get("/me?page=2"))

    assert listed_phones(first_page) == newest_first[:20]
    assert 'href="/me?page=2"' in first_page
    assert listed_phones(second_page) == newest_first[20:]
    assert 'href="/me?page=1"' in second_page
    assert 'rel="next"' not in second_page
    assert member_row(first_page, phone(24)) == directory_row(inviter_client, phone(24))
    assert f'href="/users?invited_by={inviter.invite_code}"' in first_page


def test_the_profile_hides_deactivated_invitees_and_says_when_nobody_came(app, outbox):
    inviter_client = web_sign_up(app, outbox, INVITER)
    assert "Nobody yet" in text_of(inviter_client.get("/me"))
    stored_member(
        phone(1),
        invited_by_id=user_row(INVITER).id,
        invited_at=utcnow(),
        is_active=False,
    )

    page = text_of(inviter_client.get("/me"))

    assert listed_phones(page) == []
    assert "Nobody yet" in page


# The invited_by filters of the directory and the admin list.


def test_the_directory_filters_by_the_code_members_activated(app, outbox):
    client = web_sign_up(app, outbox, INVITER)
    inviter = user_row(INVITER)
    other = stored_member(THIRD)
    for number in range(3):
        stored_member(phone(number), invited_by_id=inviter.id, invited_at=utcnow())
    stored_member(phone(5), invited_by_id=other.id, invited_at=utcnow())
    app.config["DIRECTORY_PAGE_SIZE"] = 2

    page = text_of(
        client.get("/users", query_string={"invited_by": client.invite_code})
    )
    partial = client.get(
        "/users",
        query_string={"invited_by": client.invite_code.lower(), "page": 2},
        headers={"HX-Request": "true"},
    )

    assert re.findall(r"\+998\d{9}", page.split("<table>", 1)[1]) == [
        phone(0),
        phone(1),
    ]
    assert f"3 members invited with <code>{client.invite_code}</code>." in page
    assert f"invited_by={client.invite_code}" in page.split('rel="next"')[0][-200:]
    assert "<html" not in text_of(partial)
    assert re.findall(r"\+998\d{9}", text_of(partial)) == [phone(2)]


def test_the_admin_list_filters_by_code_and_shows_each_inviter(app, api):
    inviter_code = api.member(INVITER)["invite_code"]
    api.member(NEWCOMER, referral_code=inviter_code)
    api.member(THIRD, referral_code=inviter_code)
    api.member(phone(1))
    accounts.set_active(user_row(THIRD), False)
    accounts.create_admin(ADMIN, PASSWORD)
    client = web_sign_in(app, ADMIN)

    filtered = text_of(
        client.get("/admin/users", query_string={"invited_by": inviter_code})
    )
    everyone = text_of(client.get("/admin/users"))

    assert "2 accounts." in filtered
    assert NEWCOMER in filtered and THIRD in filtered
    assert phone(1) not in filtered
    newcomer_row = member_row(everyone, NEWCOMER)
    assert (
        f'<a href="/admin/users?invited_by={inviter_code}">{INVITER} '
        f"<code>{inviter_code}</code></a>"
    ) in newcomer_row
    assert INVITER not in member_row(everyone, phone(1))


def test_only_admins_see_the_admin_list(app, outbox):
    client = web_sign_up(app, outbox, INVITER)
    response = client.get("/admin/users", query_string={"invited_by": "ABCDEFGH"})
    assert response.status_code == 403
