"""The member directory in a real browser: live search and paging."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import SEEDED_MEMBERS, new_phone, sign_up

PAGE_SIZE = 20


def result_phones(page) -> list[str]:
    return page.locator("#results tbody tr td:first-child").all_inner_texts()


def test_live_search_updates_results_without_a_new_page(pages, page):
    phone = new_phone()
    invite_code = sign_up(page, phone)
    page.goto("/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Members")
    expect(page.locator("#results")).to_have_attribute("aria-live", "polite")
    page.evaluate("window.portalTestMarker = 'still the same page'")

    page.get_by_label("Search by phone digits or invite code").press_sequentially(
        f"{phone[4:6]} {phone[6:9]} {phone[9:]}", delay=20
    )

    expect(page.locator("#results .count")).to_contain_text("1 member matches")
    assert result_phones(page) == [phone]
    expect(page).to_have_url(re.compile(r"/users\?search=\d\d%20\d{3}%20\d+$"))
    assert page.evaluate("window.portalTestMarker") == "still the same page"

    search_box = page.get_by_label("Search by phone digits or invite code")
    search_box.fill(invite_code[1:6].lower())
    expect(page.locator("#results .count")).to_contain_text(
        f"1 member matches “{invite_code[1:6].lower()}”"
    )
    assert result_phones(page) == [phone]
    expect(page).to_have_url(re.compile(rf"/users\?search={invite_code[1:6].lower()}$"))
    assert page.evaluate("window.portalTestMarker") == "still the same page"
    pages.screenshot(page, "found")

    search_box.fill("no such member 42")
    expect(page.locator("#results .count")).to_contain_text("0 members match")
    assert result_phones(page) == []
    assert page.evaluate("window.portalTestMarker") == "still the same page"

    page.go_back()
    expect(page).to_have_url(re.compile(rf"search={invite_code[1:6].lower()}$"))


def test_paging_through_the_directory(pages, page):
    sign_up(page, new_phone())
    page.goto("/users?search=9989000000")

    expect(page.locator("#results .count")).to_have_text(
        f"{SEEDED_MEMBERS} members match “9989000000”."
    )
    first_page = result_phones(page)
    assert first_page == [f"+9989{n:08d}" for n in range(PAGE_SIZE)]
    pager = page.get_by_role("navigation", name="Pages")
    expect(pager).to_contain_text("Page 1")
    expect(pager.get_by_role("link", name="Previous")).to_have_count(0)

    pager.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(pager).to_contain_text("Page 2")
    second_page = result_phones(page)
    assert second_page == [f"+9989{n:08d}" for n in range(PAGE_SIZE, 2 * PAGE_SIZE)]

    pager.get_by_role("link", name="Next").click()
    expect(pager).to_contain_text("Page 3")
    assert result_phones(page) == [
        f"+9989{n:08d}" for n in range(2 * PAGE_SIZE, SEEDED_MEMBERS)
    ]
    expect(pager.get_by_role("link", name="Next")).to_have_count(0)
    pages.screenshot(page, "last-page")

    pager.get_by_role("link", name="Previous").click()
    expect(pager).to_contain_text("Page 2")
    assert result_phones(page) == second_page
    expect(page.get_by_label("Search by phone digits or invite code")).to_have_value(
        "9989000000"
    )
