"""Sign-up in a real browser: every step a new person takes, and its errors."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import (
    CONFIRMATION_CODE,
    INVITE_CODE,
    MEMBER_PASSWORD,
    new_phone,
    sign_in,
    sign_out,
    sign_up,
)


def test_sign_up_from_register_to_a_password_sign_in(pages, page):
    phone = new_phone()
    national_form = f"{phone[4:6]} {phone[6:9]}-{phone[9:11]}-{phone[11:]}"

    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    expect(page).to_have_title("Sign up · Portal")
    page.get_by_label("Phone number").fill(national_form)
    page.get_by_role("button", name="Send me the codes").click()

    expect(page).to_have_url(re.compile(r"/verify\?phone_number=%2B998"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your number")
    expect(page.get_by_role("status")).to_contain_text("We sent a confirmation code")
    expect(page.get_by_label("Phone number")).to_have_value(phone)

    outbox = pages.new_page()
    outbox.goto("/dev/outbox")
    sms_row = outbox.get_by_role("row").filter(has_text=phone).first
    sms_text = sms_row.get_by_role("cell").nth(1).inner_text()
    confirmation_code = CONFIRMATION_CODE.search(sms_text)[1]
    invite_code = INVITE_CODE.search(sms_text)[1]
    pages.screenshot(outbox, "outbox")

    code_input = page.get_by_label("Confirmation code")
    expect(code_input).to_have_attribute("autocomplete", "one-time-code")
    expect(code_input).to_have_attribute("inputmode", "numeric")
    code_input.fill(confirmation_code)
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/login\?phone_number="))
    expect(page.get_by_role("status")).to_contain_text("Your phone number is confirmed")
    page.get_by_label("invite code from the SMS").fill(invite_code.lower())
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/set-password$"))
    expect(page.get_by_role("status")).to_contain_text("Welcome to Portal")
    page.get_by_label("New password", exact=True).fill(MEMBER_PASSWORD)
    page.get_by_label("New password again").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Save password").click()

    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("status")).to_contain_text("Your password is set")
    expect(page.locator(".invite-code")).to_have_text(invite_code)
    sign_out(page)

    sign_in(page, phone)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")
    expect(page.get_by_role("banner")).to_contain_text(phone)
    pages.screenshot(page)


def test_a_wrong_code_is_shown_beside_the_code_field(pages, page):
    phone = new_phone()
    pages.expect_status(400, "/verify")
    page.goto("/register")
    page.get_by_label("Phone number").fill(phone)
    page.get_by_role("button", name="Send me the codes").click()
    page.wait_for_url("**/verify?*")

    right_code = CONFIRMATION_CODE.search(
        page.request.get("/dev/outbox.json").json()[0]["text"]
    )[1]
    wrong_code = "000000" if right_code != "000000" else "111111"
    page.get_by_label("Confirmation code").fill(wrong_code)
    page.get_by_role("button", name="Confirm").click()

    code_input = page.get_by_label("Confirmation code")
    expect(code_input).to_have_attribute("aria-invalid", "true")
    error_id = code_input.get_attribute("aria-describedby")
    expect(page.locator(f"#{error_id}")).to_have_text(
        "The code is wrong, used or expired. Request a new one."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your number")
    pages.screenshot(page)


def test_an_expired_form_is_a_readable_error_page(pages, page):
    pages.expect_status(400, "/register")
    page.goto("/register")
    page.get_by_label("Phone number").fill(new_phone())
    page.context.clear_cookies()
    page.get_by_role("button", name="Send me the codes").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Bad request")
    expect(page.get_by_role("main")).to_contain_text(
        "The form expired or was sent from another site. Reload the page and try again."
    )
    expect(page.get_by_role("link", name="Back to the start page")).to_be_visible()
    pages.screenshot(page)


def test_sign_out_ends_the_session(pages, page):
    phone = new_phone()
    sign_up(page, phone)

    sign_out(page)
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(page.get_by_role("banner")).not_to_contain_text(phone)
    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name="Sign in")).to_be_visible()

    page.goto("/me")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fme$"))
    expect(page.get_by_role("status")).to_have_text("Please sign in to see that page.")
    pages.screenshot(page)
