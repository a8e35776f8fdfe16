"""The unfiltered directory's member count: exact when small, cached when large."""

import pytest
from sqlalchemy import event, text

from portal.extensions import db
from portal.services import directory
from tests.conftest import OTHER_PHONE

THIRD_PHONE = "+998931234567"


@pytest.fixture
def config_overrides():
    """Treat a table of one row as large, so the cache applies at test size."""
    return {"DIRECTORY_COUNT_CACHE_FROM": 1, "DIRECTORY_COUNT_CACHE_SECONDS": 60}


def member_total(api, token, **params) -> int:
    response = api.get("/users/list/", token=token, **params)
    assert response.status_code == 200
    return response.get_json()["count"]


def test_large_directory_count_is_cached_for_a_while_on_postgresql(
    app, api, database, monkeypatch
):
    if database != "postgresql":
        pytest.skip("the row estimate exists only on PostgreSQL")
    token = api.member()["access"]
    api.member(OTHER_PHONE)
    db.session.execute(text("ANALYZE users"))
    db.session.commit()
    now = 1000.0
    monkeypatch.setattr(directory, "monotonic", lambda: now)

    assert member_total(api, token) == 2
    api.member(THIRD_PHONE)

    assert member_total(api, token) == 2
    assert member_total(api, token, search="93 123") == 1
    assert member_total(api, token, search="123") == 3

    now += 61
    assert member_total(api, token) == 3


def test_directory_count_is_exact_on_sqlite_at_any_size(app, api, database):
    if database != "sqlite":
        pytest.skip("PostgreSQL caches at this size, see the test above")
    token = api.member()["access"]

    assert member_total(api, token) == 1
    api.member(OTHER_PHONE)

    assert member_total(api, token) == 2


@pytest.mark.parametrize("config_overrides", [{}])
def test_small_directory_counts_exactly_on_every_request(app, api):
    """At the default threshold a test-sized table is small on both databases."""
    token = api.member()["access"]

    assert member_total(api, token) == 1
    api.member(OTHER_PHONE)

    assert member_total(api, token) == 2


def test_large_directory_list_needs_three_statements_then_two(app, api, database):
    """Account, count and page; while the count is cached, account and page."""
    if database != "postgresql":
        pytest.skip("the row estimate exists only on PostgreSQL")
    token = api.member()["access"]
    db.session.execute(text("ANALYZE users"))
    db.session.commit()
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    counted = []
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(2):
            db.session.close()  # requests here share the test's session
            statements.clear()
            assert member_total(api, token) == 1
            counted.append(len(statements))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert counted == [3, 2]
