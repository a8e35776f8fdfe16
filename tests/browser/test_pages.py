"""Every page at a phone's width and a laptop's: title, heading, labels, focus.

Each page leaves a screenshot named pages-<width>-<page>.png, for people to
look at; the checks here are the parts of "usable" a machine can see.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    new_phone,
    sign_in,
    sign_out,
    sign_up,
)

SIGNED_OUT_PAGES = {
    "index": "/",
    "register": "/register",
    "verify": "/verify?phone_number=%2B998931000001",
    "login": "/login",
    "reset-password": "/reset-password",
    "reset-password-confirm": "/reset-password/confirm?phone_number=%2B998931000001",
    "not-found": "/no-such-page",
}
MEMBER_PAGES = {
    "me": "/me",
    "set-password": "/set-password",
    "users": "/users",
    "outbox": "/dev/outbox",
}
ADMIN_PAGES = {"admin-users": "/admin/users", "admin-audit": "/admin/audit"}

# Inputs that a person fills in or clicks, and none of them without a label.
UNLABELLED_CONTROLS = """
() => [...document.querySelectorAll("input, select, textarea")]
  .filter((el) => el.type !== "hidden" && !["submit", "button"].includes(el.type))
  .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label"))
  .map((el) => el.outerHTML)
"""
HORIZONTAL_OVERFLOW = (
    "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
)
FOCUS_STYLE = """
() => {
  const style = getComputedStyle(document.activeElement);
  return {
    tag: document.activeElement.tagName,
    outline: style.outlineStyle === "none" ? 0 : parseFloat(style.outlineWidth),
    shadow: style.boxShadow,
  };
}
"""
SETTLED_STYLE = (
    "() => document.getAnimations().forEach((animation) => animation.finish())"
)


def focused_style(page) -> dict:
    """The focused element's ring once its transitions have run to the end."""
    page.evaluate(SETTLED_STYLE)
    return page.evaluate(FOCUS_STYLE)


def check_page(pages, page, name: str) -> None:
    width = page.viewport_size["width"]
    title = page.title()
    assert title.endswith(" · Portal") and len(title) > len(" · Portal"), title
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    brand = page.get_by_role("banner").get_by_role("link", name="Portal", exact=True)
    expect(brand).to_be_visible()
    assert page.evaluate(UNLABELLED_CONTROLS) == [], name
    assert page.evaluate(HORIZONTAL_OVERFLOW) <= 0, f"{name} scrolls sideways"

    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Tab")
    focus = focused_style(page)
    assert focus["outline"] >= 2, f"{name}: the first Tab shows no ring {focus}"
    page.evaluate("document.activeElement.blur()")

    first_field = page.locator("main input:not([type=hidden]), main select").first
    if first_field.count():
        unfocused = first_field.evaluate("(el) => getComputedStyle(el).boxShadow")
        first_field.focus()
        focus = focused_style(page)
        assert focus["outline"] >= 2 or focus["shadow"] != unfocused, (
            f"{name}: a focused field looks like an unfocused one {focus}"
        )
        first_field.blur()
    pages.screenshot(page, file_name=f"pages-{width}-{name}")


def visit_all(pages, page, paths: dict[str, str]) -> None:
    for name, path in paths.items():
        page.goto(path)
        check_page(pages, page, name)


@pytest.mark.parametrize(
    "width, height", [(375, 740), (1280, 800)], ids=["375px", "1280px"]
)
def test_every_page_is_usable_at_phone_and_laptop_widths(pages, width, height):
    pages.expect_status(404, "/no-such-page")
    page = pages.new_page(width=width, height=height)
    visit_all(pages, page, SIGNED_OUT_PAGES)

    member_phone = new_phone()
    sign_up(page, member_phone)
    visit_all(pages, page, MEMBER_PAGES)
    sign_out(page)

    sign_in(page, ADMIN_PHONE, ADMIN_PASSWORD)
    visit_all(pages, page, ADMIN_PAGES)
    page.goto(f"/admin/users?search={member_phone[1:]}")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Deactivate {member_phone}"
    )
    check_page(pages, page, "admin-confirm")


def test_the_api_documentation_loads_without_errors(pages, page):
    page.goto("/api/v1/docs")

    expect(page.get_by_text("/auth/register/").first).to_be_visible()
    expect(page).to_have_title("API documentation · Portal")
    pages.screenshot(page)
