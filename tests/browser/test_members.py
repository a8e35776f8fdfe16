"""Admins and referrals in a real browser: two people, two browser contexts."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    MEMBER_PASSWORD,
    new_phone,
    sign_in,
    sign_out,
    sign_up,
)


def section(page, heading: str):
    return page.locator("section").filter(
        has=page.get_by_role("heading", name=heading, exact=True)
    )


def test_an_admin_deactivates_a_member_who_is_then_signed_out(pages):
    member_phone = new_phone()
    member = pages.new_page()
    sign_up(member, member_phone)

    admin = pages.new_page()
    sign_in(admin, ADMIN_PHONE, ADMIN_PASSWORD)
    admin.get_by_role("banner").get_by_role("link", name="Admin").click()
    expect(admin).to_have_title("Admin: accounts · Portal")
    admin.get_by_label("Search by phone digits or invite code").fill(member_phone[1:])
    admin.get_by_role("button", name="Filter").click()
    row = admin.get_by_role("row").filter(has_text=member_phone)
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Deactivate").click()

    expect(admin.get_by_role("heading", level=1)).to_have_text(
        f"Deactivate {member_phone}"
    )
    pages.screenshot(admin, "confirm")
    admin.get_by_role("button", name="Yes, deactivate").click()

    expect(admin).to_have_url(
        re.compile(rf"/admin/users\?status=all&search={member_phone[1:]}$")
    )
    expect(admin.get_by_role("status")).to_have_text(f"{member_phone} is deactivated.")
    expect(row.get_by_role("cell", name="deactivated")).to_be_visible()
    expect(row.get_by_role("button", name="Reactivate")).to_be_visible()

    member.reload()
    expect(member).to_have_url(re.compile(r"/login\?next=%2Fme$"))
    expect(member.get_by_role("status")).to_have_text(
        "Please sign in to see that page."
    )
    pages.expect_status(403, "/login?next=%2Fme")
    member.get_by_label("Phone number").fill(member_phone)
    member.get_by_label("Password", exact=True).fill(MEMBER_PASSWORD)
    member.get_by_role("button", name="Sign in").click()
    expect(member.get_by_role("alert")).to_have_text(
        "This account has been deactivated."
    )
    pages.screenshot(member, "refused")

    admin.get_by_role("link", name="Audit log").click()
    expect(admin.get_by_role("row").nth(1)).to_contain_text(
        f"{ADMIN_PHONE} deactivate {member_phone}"
    )


def test_a_member_who_shares_their_code_sees_the_newcomer_on_their_profile(pages):
    inviter_phone = new_phone()
    inviter = pages.new_page()
    sign_up(inviter, inviter_phone)
    shared_code = inviter.locator(".invite-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{8}", shared_code)
    expect(section(inviter, "Members you invited")).to_contain_text("Nobody yet.")
    sign_out(inviter)

    newcomer_phone = new_phone()
    newcomer = pages.new_page(width=375, height=740)
    sign_up(newcomer, newcomer_phone, referral_code=shared_code.lower())
    invited_by = section(newcomer, "Invited by")
    expect(invited_by).to_contain_text(f"You activated the invite code {shared_code}.")
    pages.screenshot(newcomer, "newcomer")

    sign_in(inviter, inviter_phone)
    invited = section(inviter, "Members you invited")
    expect(invited.locator("tbody tr td:first-child")).to_have_text([newcomer_phone])
    pages.screenshot(inviter, "inviter")
