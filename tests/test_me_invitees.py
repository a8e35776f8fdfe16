"""GET /users/me/ lists who activated the member's code, in one SQL statement."""

from sqlalchemy import event, select

from portal.extensions import db
from portal.models import User
from portal.services import accounts
from tests.conftest import OTHER_PHONE, PHONE

THIRD_PHONE = "+998931234567"
FOURTH_PHONE = "+998941234567"


def activate(api, token: str, invite_code: str) -> None:
    response = api.post(
        "/users/activate-invite/", {"invite_code": invite_code}, token=token
    )
    assert response.status_code == 200, response.get_json()


def test_me_lists_active_invited_members_newest_first(api):
    owner = api.member(PHONE)
    for phone in (OTHER_PHONE, THIRD_PHONE, FOURTH_PHONE):
        activate(api, api.member(phone)["access"], owner["invite_code"])
    deactivated = db.session.scalar(select(User).where(User.phone_e164 == THIRD_PHONE))
    accounts.set_active(deactivated, False)

    me = api.get("/users/me/", token=owner["access"]).get_json()

    assert [member["phone_number"] for member in me["invited_users"]] == [
        FOURTH_PHONE,
        OTHER_PHONE,
    ]


def test_me_reads_the_account_and_its_invited_members_in_one_statement(api, app):
    owner = api.member(PHONE)
    activate(api, api.member(OTHER_PHONE)["access"], owner["invite_code"])
    db.session.close()  # requests here share the test's session: start empty
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = api.get("/users/me/", token=owner["access"])
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert response.status_code == 200
    assert len(response.get_json()["invited_users"]) == 1
    assert len(statements) == 1
