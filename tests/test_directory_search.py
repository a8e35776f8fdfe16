"""Directory search over phone digits and invite codes, as members see it."""

import pytest

from tests.conftest import OTHER_PHONE, PHONE


def found_phones(api, token, search: str) -> list[str]:
    response = api.get("/users/list/", token=token, search=search)
    assert response.status_code == 200
    return [user["phone_number"] for user in response.get_json()["results"]]


def test_long_phone_query_matches_all_its_digits_not_only_the_last(api):
    token = api.member(PHONE)["access"]
    api.member(OTHER_PHONE)

    assert found_phones(api, token, "34567") == [PHONE, OTHER_PHONE]
    assert found_phones(api, token, "+998 90 123 45 67") == [PHONE]
    assert found_phones(api, token, "91 123-45-67") == [OTHER_PHONE]
    assert found_phones(api, token, "+998 92 123 45 67") == []


def test_invite_code_part_is_found_in_any_case(api):
    member = api.member(PHONE)
    api.member(OTHER_PHONE)

    found = found_phones(api, member["access"], member["invite_code"][2:7].lower())

    assert PHONE in found


@pytest.mark.parametrize("search", ["%", "_", "\\\\", "nobody", "ABCDEFGHJ"])
def test_text_no_invite_code_can_hold_finds_nobody(api, search):
    token = api.member(PHONE)["access"]

    response = api.get("/users/list/", token=token, search=search)

    assert response.status_code == 200
    assert response.get_json()["count"] == 0
    assert response.get_json()["results"] == []
