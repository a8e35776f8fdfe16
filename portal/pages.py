"""Small request helpers shared by the HTML faces (web and admin)."""

from flask import request

MAX_PAGE_DIGITS = 6


def page_number() -> int:
    """The `page` query parameter; anything that is not a page number is page 1."""
    raw_page = request.args.get("page", "1")
    if (
        not (raw_page.isascii() and raw_page.isdigit())
        or len(raw_page) > MAX_PAGE_DIGITS
    ):
        return 1
    return max(int(raw_page), 1)
