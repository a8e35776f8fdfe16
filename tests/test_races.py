"""One-time rules and limits hold when many requests arrive at once (issue 3.1).

Each test sends parallel requests from threads to a real threaded server in
another process, on a SQLite file and on PostgreSQL, so only what the
database enforces can hold.
"""

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import OutboxMessage, PhoneCode, RefreshToken, User
from tests.conftest import CODES_IN_SMS, make_app, private_pg_schema
from tests.live_server import LiveServer, in_parallel

PARALLEL = 12
PHONE = "+998901234567"
MAX_ATTEMPTS = 5


@pytest.fixture(scope="module")
def pg_race_url():
    """A fresh schema for this module's server, dropped at the end."""
    with private_pg_schema("portal_race") as (url, _schema):
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    """A running server and an app on the same database, to look at the rows."""
    folder = tmp_path_factory.mktemp(f"race-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'race.sqlite3'}"
    else:
        database_url = request.getfixturevalue("pg_race_url")

    settings = {"SMS_BACKEND": "console", "CODE_MAX_ATTEMPTS": MAX_ATTEMPTS}
    inspector_app = make_app(database_url, **settings)
    with inspector_app.app_context():
        db.create_all()
        db.engine.dispose()

    server = LiveServer(database_url, folder / "server.log", **settings)
    server.app = inspector_app
    yield server
    server.stop()
    with inspector_app.app_context():
        db.engine.dispose()


@pytest.fixture
def server(live):
    """The live server with empty tables."""
    with live.app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.session.remove()
    return live


def rows(server, query):
    with server.app.app_context():
        result = db.session.execute(query).all()
        db.session.remove()
        return result


def newest_codes(server, phone: str) -> tuple[str | None, str | None]:
    """The confirmation and invite code of the newest SMS to `phone`."""
    texts = rows(
        server,
        sa.select(OutboxMessage.text)
        .where(OutboxMessage.to == phone)
        .order_by(OutboxMessage.id.desc())
        .limit(1),
    )
    confirmation_code = invite_code = None
    for match in CODES_IN_SMS.finditer(texts[0].text if texts else ""):
        confirmation_code = confirmation_code or match.group(1)
        invite_code = invite_code or match.group(2)
    return confirmation_code, invite_code


def sms_count(server, phone: str) -> int:
    query = sa.select(sa.func.count()).where(OutboxMessage.to == phone)
    return rows(server, query)[0][0]


def verified(server, phone: str) -> str:
    """Register and confirm a number; return its invite code."""
    assert server.post("/api/v1/auth/register/", {"phone_number": phone}).ok
    confirmation_code, invite_code = newest_codes(server, phone)
    answer = server.post(
        "/api/v1/auth/verify-code/", {"phone_number": phone, "code": confirmation_code}
    )
    assert answer.status_code == 200, answer.text
    return invite_code


def member(server, phone: str) -> dict:
    """A signed-in member: tokens and the now public invite code."""
    invite_code = verified(server, phone)
    answer = server.post(
        "/api/v1/auth/login/", {"phone_number": phone, "invite_code": invite_code}
    )
    assert answer.status_code == 200, answer.text
    return {**answer.json(), "invite_code": invite_code}


def statuses(answers) -> list[int]:
    return sorted(answer.status_code for answer in answers)


def test_parallel_registrations_of_one_number_give_one_account(server):
    answers = in_parallel(
        PARALLEL,
        lambda _: server.post("/api/v1/auth/register/", {"phone_number": PHONE}),
    )

    assert statuses(answers).count(201) == 1, statuses(answers)
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) > 0
        elif answer.status_code == 409:
            assert answer.json()["errors"]["phone_number"]
        else:
            assert answer.status_code == 201, answer.text
    user_rows = rows(server, sa.select(User.id).where(User.phone_e164 == PHONE))
    assert len(user_rows) == 1
    assert sms_count(server, PHONE) == 1


def allow_resend(server) -> None:
    """Pretend the resend cooldown is over."""
    with server.app.app_context():
        db.session.execute(sa.update(User).values(last_code_sent_at=None))
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("burst", range(3))
def test_parallel_wrong_codes_get_no_more_than_the_allowed_attempts(server, burst):
    """A lost update would leave fewer attempts counted than were compared."""
    assert server.post("/api/v1/auth/register/", {"phone_number": PHONE}).ok
    right_code, _ = newest_codes(server, PHONE)
    wrong_code = f"{(int(right_code) + 1) % 1_000_000:06d}"

    answers = in_parallel(
        PARALLEL * 2,
        lambda _: server.post(
            "/api/v1/auth/verify-code/", {"phone_number": PHONE, "code": wrong_code}
        ),
    )

    assert statuses(answers) == [400] * PARALLEL * 2
    assert rows(server, sa.select(PhoneCode.attempts)) == [(MAX_ATTEMPTS,)]
    late_right_guess = server.post(
        "/api/v1/auth/verify-code/", {"phone_number": PHONE, "code": right_code}
    )
    assert late_right_guess.status_code == 400
    assert rows(server, sa.select(User.is_verified)) == [(False,)]


def test_parallel_resends_send_one_sms(server):
    assert server.post("/api/v1/auth/register/", {"phone_number": PHONE}).ok
    allow_resend(server)

    answers = in_parallel(
        PARALLEL,
        lambda _: server.post("/api/v1/auth/get-code/", {"phone_number": PHONE}),
    )

    assert statuses(answers) == [200] + [429] * (PARALLEL - 1)
    assert all(
        int(answer.headers["Retry-After"]) > 0
        for answer in answers
        if answer.status_code == 429
    )
    assert sms_count(server, PHONE) == 2


def test_parallel_invite_code_sign_ins_succeed_once(server):
    invite_code = verified(server, PHONE)

    answers = in_parallel(
        PARALLEL,
        lambda _: server.post(
            "/api/v1/auth/login/", {"phone_number": PHONE, "invite_code": invite_code}
        ),
    )

    assert statuses(answers) == [200] + [401] * (PARALLEL - 1)
    assert rows(server, sa.select(sa.func.count()).select_from(RefreshToken)) == [(1,)]


def test_parallel_refreshes_of_one_token_succeed_once(server):
    refresh_token = member(server, PHONE)["refresh"]

    answers = in_parallel(
        PARALLEL,
        lambda _: server.post("/api/v1/auth/refresh/", {"refresh": refresh_token}),
    )

    assert statuses(answers) == [200] + [401] * (PARALLEL - 1)


def test_parallel_invite_activations_succeed_once(server):
    inviter = member(server, PHONE)
    invitee = member(server, "+998911234567")

    answers = in_parallel(
        PARALLEL,
        lambda _: server.post(
            "/api/v1/users/activate-invite/",
            {"invite_code": inviter["invite_code"]},
            token=invitee["access"],
        ),
    )

    assert statuses(answers) == [200] + [409] * (PARALLEL - 1)


def test_two_members_activating_each_other_at_once_never_both_succeed(server):
    rounds = 4
    for round_number in range(rounds):
        first = member(server, f"+99890{round_number}000001")
        second = member(server, f"+99891{round_number}000002")
        pairs = [(first, second), (second, first)] * (PARALLEL // 2)

        def activate(index: int, pairs=pairs):
            invitee, inviter = pairs[index]
            return server.post(
                "/api/v1/users/activate-invite/",
                {"invite_code": inviter["invite_code"]},
                token=invitee["access"],
            )

        answers = in_parallel(len(pairs), activate)

        assert statuses(answers).count(200) == 1, statuses(answers)
        assert set(statuses(answers)) <= {200, 400, 409}
