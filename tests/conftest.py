"""Fixtures: an app per test on SQLite and on PostgreSQL, and sign-up helpers.

Every test that takes `app` runs once per database. PostgreSQL tests use a
schema of their own (dropped at the end), so runs never see each other's
rows. Where no PostgreSQL answers they are skipped, unless
PORTAL_REQUIRE_PG=1 (set by CI) turns the skip into a failure. Each test
carries the mark of its database (`-m sqlite`, `-m postgresql`), and the
summary ends with the count of tests on each.
"""

import os
import re
import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import User, utcnow
from portal.services import codes

PG_URL = os.environ.get(
    "PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("PORTAL_REQUIRE_PG") == "1"
DATABASES = ("sqlite", "postgresql")
# One Redis key prefix per run, so parallel runs never share limiter counters.
# Per run, not per test: Flask-Limiter keeps the first app's prefix on the
# shared limiter for the whole process and ignores later ones.
RUN_KEY_PREFIX = f"portal-test-{uuid.uuid4().hex[:12]}"
PHONE = "+998901234567"
OTHER_PHONE = "+998911234567"
PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CODES_IN_SMS = re.compile(r"confirmation code (\d{6})|invite code ([A-Z0-9]{8})")


def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "not here"
        return f"PostgreSQL at {PG_URL} does not answer: {type(exc).__name__}"


@contextmanager
def private_pg_schema(prefix: str, also_search: str = ""):
    """A PostgreSQL schema of its own, dropped afterwards: (url, schema name).

    The URL sets the search_path to the schema (then `also_search`, if given).
    Skips where no PostgreSQL answers, or fails under PORTAL_REQUIRE_PG=1.
    """
    reason = pg_available()
    if reason:
        if REQUIRE_PG:
            pytest.fail(reason + " (PORTAL_REQUIRE_PG=1)")
        pytest.skip(reason)

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    search_path = f"{schema},{also_search}" if also_search else schema
    engine = sa.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{search_path}", schema
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def pg_schema_url():
    """A schema of this run's own on the test PostgreSQL, dropped at the end."""
    with private_pg_schema("portal_test") as url_and_schema:
        yield url_and_schema


@pytest.fixture(scope="session")
def pg_tables_ready():
    return {"created": False}


def pytest_terminal_summary(terminalreporter):
    """One line per database: how many of its tests passed, failed, skipped."""
    counts = {name: {"passed": 0, "failed": 0, "skipped": 0} for name in DATABASES}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            keywords = getattr(report, "keywords", {})
            name = next((name for name in DATABASES if name in keywords), None)
            if name is None or (report.when != "call" and outcome == "passed"):
                continue
            counts[name]["failed" if outcome == "error" else outcome] += 1
    for name, tally in counts.items():
        terminalreporter.write_line(
            f"tests on {name}: " + ", ".join(f"{n} {k}" for k, n in tally.items())
        )


class FreshGlobalsClient(FlaskClient):
    """A test client whose every request starts with an empty `flask.g`.

    The `app` fixture keeps an app context open for the whole test, and a
    request reuses it, so without this `g` would carry Flask-Login's user and
    Flask-WTF's CSRF token from one request (and one client) to the next.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            for name in list(vars(g)):
                delattr(g, name)
        return super().open(*args, **kwargs)


def make_app(database_url: str, **overrides):
    config = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    config.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_KEY_PREFIX=RUN_KEY_PREFIX,
        **overrides,
    )
    app = create_app(config)
    app.test_client_class = FreshGlobalsClient
    return app


@pytest.fixture(
    params=[pytest.param(name, marks=getattr(pytest.mark, name)) for name in DATABASES]
)
def database(request):
    return request.param


@pytest.fixture
def config_overrides():
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def app(database, request, config_overrides, pg_tables_ready):
    if database == "postgresql":
        url, schema = request.getfixturevalue("pg_schema_url")
        app = make_app(url, **config_overrides)
        with app.app_context():
            if not pg_tables_ready["created"]:
                db.create_all()
                pg_tables_ready["created"] = True
            table_names = ", ".join(
                f'"{table.name}"' for table in db.metadata.sorted_tables
            )
            db.session.execute(
                sa.text(f"TRUNCATE {table_names} RESTART IDENTITY CASCADE")
            )
            db.session.commit()
            yield app
            db.session.remove()
            db.engine.dispose()
    else:
        app = make_app("sqlite://", **config_overrides)
        with app.app_context():
            db.create_all()
            yield app
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def outbox(app):
    """The messages the memory SMS backend was asked to send."""
    return app.extensions["portal_sms"].messages


def codes_sent_to(outbox, phone: str) -> tuple[str | None, str | None]:
    """The newest confirmation code and invite code sent to a phone."""
    for message in reversed(outbox):
        if message["to"] == phone:
            confirmation_code = invite_code = None
            for match in CODES_IN_SMS.finditer(message["text"]):
                confirmation_code = confirmation_code or match.group(1)
                invite_code = invite_code or match.group(2)
            return confirmation_code, invite_code
    return None, None


def csrf_token(client, path: str = "/reset-password") -> str:
    """The CSRF token a page's form carries; the default page is open to all."""
    page = client.get(path)
    assert page.status_code == 200, path
    return CSRF_FIELD.search(page.get_data(as_text=True)).group(1)


def submit(client, path: str, fields: dict, page: str | None = None):
    """POST a form the way a browser does: fetch its page, send its CSRF token."""
    token = csrf_token(client, page or path)
    return client.post(path, data={**fields, "csrf_token": token})


class ApiHelper:
    """Drives the JSON API through sign-up steps, for tests of later steps."""

    def __init__(self, client, outbox):
        self.client = client
        self.outbox = outbox

    def post(self, path: str, body: dict, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(f"/api/v1{path}", json=body, headers=headers)

    def get(self, path: str, token: str | None = None, **params):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(f"/api/v1{path}", headers=headers, query_string=params)

    def register(self, phone: str = PHONE, **extra) -> tuple[str, str]:
        response = self.post("/auth/register/", {"phone_number": phone, **extra})
        assert response.status_code == 201, response.get_json()
        return codes_sent_to(self.outbox, phone)

    def verified(self, phone: str = PHONE, **extra) -> str:
        """Register and confirm; return the invite code."""
        confirmation_code, invite_code = self.register(phone, **extra)
        response = self.post(
            "/auth/verify-code/", {"phone_number": phone, "code": confirmation_code}
        )
        assert response.status_code == 200, response.get_json()
        return invite_code

    def member(self, phone: str = PHONE, **extra) -> dict:
        """Register, confirm and sign in once with the invite code."""
        invite_code = self.verified(phone, **extra)
        response = self.post(
            "/auth/login/", {"phone_number": phone, "invite_code": invite_code}
        )
        assert response.status_code == 200, response.get_json()
        return {**response.get_json(), "invite_code": invite_code}

    def with_password(self, phone: str = PHONE, password: str = PASSWORD) -> dict:
        tokens = self.member(phone)
        response = self.post(
            "/users/set-password/", {"password": password}, token=tokens["access"]
        )
        assert response.status_code == 200, response.get_json()
        return {**response.get_json(), "invite_code": tokens["invite_code"]}


@pytest.fixture
def api(client, outbox):
    return ApiHelper(client, outbox)


def stored_member(phone_e164: str, **columns) -> User:
    """A member written straight to the database, for lists and filters."""
    member = User(
        phone_e164=phone_e164,
        is_verified=True,
        first_login_at=utcnow(),
        invite_code=codes.new_invite_code(),
        **columns,
    )
    db.session.add(member)
    db.session.commit()
    return member
