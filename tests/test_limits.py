"""Rate limits, the daily SMS cap and allowed regions (issue 3.2).

Every limit test runs with the limiter's memory storage and with the real
Redis on this machine, each Redis test under a key prefix of its own.
"""

import uuid

import pytest
import redis
import sqlalchemy as sa

from portal.extensions import db
from portal.models import SmsSend, User
from portal.services import accounts, tokens
from tests.conftest import (
    PASSWORD,
    PHONE,
    RUN_KEY_PREFIX,
    codes_sent_to,
    csrf_token,
    make_app,
)
from tests.live_server import LiveServer
from tests.security_helpers import web_sign_in

REDIS_URL = "redis://127.0.0.1:6379"
KZ_PHONE = "+77012345678"
RU_PHONE = "+79123456789"
LIMITS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_PER_IP": "3/minute",
    "RATELIMIT_PER_PHONE": "3/minute",
    "RATELIMIT_PER_USER": "3/minute",
}


def redis_reason() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        return None
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} does not answer: {type(exc).__name__}"


@pytest.fixture(params=["memory", "redis"])
def limiter_storage(request):
    """Limiter settings for one storage; Redis keys are removed afterwards."""
    if request.param == "memory":
        yield {"RATELIMIT_STORAGE_URI": "memory://"}
        return

    reason = redis_reason()
    if reason:
        pytest.skip(reason)
    key_prefix = f"portal-test-{uuid.uuid4().hex}"
    yield {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": key_prefix},
    }
    connection = redis.Redis.from_url(REDIS_URL)
    for key in connection.scan_iter(match=f"{key_prefix}*", count=500):
        connection.delete(key)
    connection.close()


@pytest.fixture
def config_overrides(request, limiter_storage):
    """Small limits; a test may add settings with indirect parametrization."""
    return {**LIMITS, **limiter_storage, **getattr(request, "param", {})}


def from_ip(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def register(client, phone: str, ip: str = "198.51.100.1"):
    return client.post(
        "/api/v1/auth/register/", json={"phone_number": phone}, **from_ip(ip)
    )


def guess(client, phone: str, ip: str = "198.51.100.1"):
    return client.post(
        "/api/v1/auth/verify-code/",
        json={"phone_number": phone, "code": "000000"},
        **from_ip(ip),
    )


def assert_json_429(response) -> None:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert response.get_json() == {
        "message": "Too many requests. Please wait a little and try again.",
        "errors": {},
    }


def member_access_token(outbox, phone: str) -> str:
    """A member made through the services, so set-up spends no request budget."""
    accounts.register(phone)
    confirmation_code, invite_code = codes_sent_to(outbox, phone)
    accounts.verify_phone(phone, confirmation_code)
    sign_in = accounts.login_with_invite_code(phone, invite_code)
    return tokens.issue_pair(sign_in.user)["access"]


def test_per_ip_limit_counts_every_phone_and_both_faces(client):
    assert register(client, "+998901111111").status_code == 201
    assert register(client, "+998902222222").status_code == 201
    web_answer = client.post(
        "/register",
        data={"phone_number": "+998903333333", "csrf_token": csrf_token(client)},
        **from_ip("198.51.100.1"),
    )
    assert web_answer.status_code == 302

    assert_json_429(register(client, "+998904444444"))
    assert register(client, "+998904444444", ip="198.51.100.2").status_code == 201


def test_limited_browser_gets_a_page_with_retry_after(client):
    for phone in ("+998901111111", "+998902222222", "+998903333333"):
        register(client, phone)

    response = client.post(
        "/register",
        data={"phone_number": "+998904444444", "csrf_token": csrf_token(client)},
        **from_ip("198.51.100.1"),
    )

    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    page = response.get_data(as_text=True)
    assert "<h1>Too many requests</h1>" in page
    assert "Please wait a little and try again." in page


def test_per_phone_limit_counts_one_number_however_typed_from_many_ips(client):
    register(client, PHONE, ip="198.51.100.9")

    assert guess(client, "+998 90 123 45 67", ip="198.51.100.10").status_code == 400
    assert guess(client, "90-123-45-67", ip="198.51.100.11").status_code == 400
    assert guess(client, "(90) 123 45 67", ip="198.51.100.14").status_code == 400

    assert_json_429(guess(client, "00998901234567", ip="198.51.100.12"))
    assert guess(client, "+998911234567", ip="198.51.100.13").status_code == 400


def test_per_phone_limit_covers_login_and_get_code(client):
    body = {"phone_number": PHONE, "password": "some wrong password"}
    for ip in ("198.51.100.20", "198.51.100.21", "198.51.100.22"):
        response = client.post("/api/v1/auth/login/", json=body, **from_ip(ip))
        assert response.status_code == 401

    response = client.post(
        "/api/v1/auth/get-code/", json={"phone_number": PHONE}, **from_ip("192.0.2.1")
    )
    assert_json_429(response)


def test_forged_forwarded_for_does_not_change_the_key(client):
    for forged in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        response = client.post(
            "/api/v1/auth/register/",
            json={"phone_number": f"+99890{forged[-1]}000000"},
            headers={"X-Forwarded-For": forged},
        )
        assert response.status_code == 201

    response = client.post(
        "/api/v1/auth/register/",
        json={"phone_number": "+998909000000"},
        headers={"X-Forwarded-For": "203.0.113.4"},
    )
    assert_json_429(response)


@pytest.mark.parametrize("config_overrides", [{"PROXY_COUNT": 1}], indirect=True)
def test_behind_one_proxy_only_the_address_it_saw_counts(client):
    """The proxy appends the real peer; what the client wrote before it is ignored."""
    answers = [
        client.post(
            "/api/v1/auth/register/",
            json={"phone_number": f"+99890{forged[-1]}000000"},
            headers={"X-Forwarded-For": f"{forged}, 198.51.100.77"},
        )
        for forged in ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4")
    ]
    assert [answer.status_code for answer in answers[:3]] == [201, 201, 201]
    assert_json_429(answers[3])

    other_client = client.post(
        "/api/v1/auth/register/",
        json={"phone_number": "+998909000000"},
        headers={"X-Forwarded-For": "198.51.100.78"},
    )
    assert other_client.status_code == 201


def test_per_user_limit_on_the_api(client, outbox):
    access = member_access_token(outbox, PHONE)
    other_access = member_access_token(outbox, "+998911234567")
    bearer = {"Authorization": f"Bearer {access}"}

    for _ in range(3):
        assert client.get("/api/v1/users/me/", headers=bearer).status_code == 200
    assert_json_429(client.get("/api/v1/users/me/", headers=bearer))

    other_bearer = {"Authorization": f"Bearer {other_access}"}
    assert client.get("/api/v1/users/me/", headers=other_bearer).status_code == 200


def test_per_user_limit_on_the_pages(client, outbox):
    accounts.register(PHONE)
    confirmation_code, invite_code = codes_sent_to(outbox, PHONE)
    accounts.verify_phone(PHONE, confirmation_code)
    web_sign_in(client, PHONE, invite_code=invite_code)

    for _ in range(3):
        assert client.get("/users").status_code == 200
    response = client.get("/users")

    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "config_overrides",
    [{"CODES_PER_PHONE_PER_DAY": 2, "CODE_RESEND_COOLDOWN": 0}],
    indirect=True,
)
def test_daily_cap_on_codes_per_phone(client, outbox):
    assert register(client, PHONE).status_code == 201
    response = client.post(
        "/api/v1/auth/get-code/", json={"phone_number": PHONE}, **from_ip("192.0.2.9")
    )
    assert response.status_code == 200

    response = client.post(
        "/api/v1/auth/get-code/", json={"phone_number": PHONE}, **from_ip("192.0.2.8")
    )

    assert response.status_code == 429
    assert 23 * 3600 < int(response.headers["Retry-After"]) <= 24 * 3600
    assert response.get_json()["message"].startswith("Please wait")
    assert len(outbox) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SmsSend)) == 2


@pytest.mark.parametrize("phone", [KZ_PHONE, RU_PHONE, "+4915112345678"])
def test_other_countries_get_no_code_on_either_face(client, outbox, phone):
    api_answer = register(client, phone)
    assert api_answer.status_code == 400
    assert api_answer.get_json()["errors"]["phone_number"] == [
        "Portal cannot send codes to phone numbers in this country."
    ]

    web_answer = client.post(
        "/register",
        data={"phone_number": phone, "csrf_token": csrf_token(client)},
        **from_ip("192.0.2.50"),
    )
    assert web_answer.status_code == 400
    assert "Portal cannot send codes" in web_answer.get_data(as_text=True)

    assert outbox == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    "config_overrides", [{"PORTAL_ALLOWED_REGIONS": ["UZ", "KZ"]}], indirect=True
)
def test_allowed_regions_are_configurable(client, outbox):
    assert register(client, KZ_PHONE).status_code == 201
    assert register(client, RU_PHONE, ip="192.0.2.60").status_code == 400
    assert [message["to"] for message in outbox] == [KZ_PHONE]


@pytest.mark.parametrize(
    "config_overrides",
    [{"PORTAL_ALLOWED_REGIONS": ["UZ", "KZ"], "CODE_RESEND_COOLDOWN": 0}],
    indirect=True,
)
def test_a_dropped_region_gets_no_more_codes(app, client, outbox):
    assert register(client, KZ_PHONE).status_code == 201
    app.config["PORTAL_ALLOWED_REGIONS"] = ["UZ"]

    for path in ("/api/v1/auth/get-code/", "/api/v1/auth/reset-password/"):
        response = client.post(
            path, json={"phone_number": KZ_PHONE}, **from_ip("192.0.2.70")
        )
        assert response.status_code == 400, path
        assert response.get_json()["errors"]["phone_number"]
    assert len(outbox) == 1


def test_limit_answers_come_before_any_work(client, outbox):
    """Over the limit, nothing is sent and no row is written."""
    for phone in ("+998901111111", "+998902222222", "+998903333333"):
        register(client, phone)
    assert_json_429(register(client, "+998904444444"))

    assert "+998904444444" not in [message["to"] for message in outbox]
    stored = db.session.scalar(
        sa.select(sa.func.count()).where(User.phone_e164 == "+998904444444")
    )
    assert stored == 0


def test_redis_counters_are_shared_by_separate_processes(tmp_path):
    """Two app processes with one Redis count one client's requests together."""
    reason = redis_reason()
    if reason:
        pytest.skip(reason)
    key_prefix = f"portal-test-{uuid.uuid4().hex}"
    settings = {
        **LIMITS,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": key_prefix},
    }
    database_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    this_process = make_app(database_url, **settings)
    with this_process.app_context():
        db.create_all()
    server = LiveServer(
        database_url,
        tmp_path / "server.log",
        RATELIMIT_KEY_PREFIX=RUN_KEY_PREFIX,
        **settings,
    )
    try:
        local_client = this_process.test_client()
        for phone in ("+998901111111", "+998902222222"):
            response = local_client.post(
                "/api/v1/auth/register/", json={"phone_number": phone}
            )
            assert response.status_code == 201

        assert server.post(
            "/api/v1/auth/register/", {"phone_number": "+998903333333"}
        ).ok
        remote = server.post("/api/v1/auth/register/", {"phone_number": "+998904"})
        assert remote.status_code == 429
        assert int(remote.headers["Retry-After"]) > 0
    finally:
        server.stop()
        with this_process.app_context():
            db.engine.dispose()
        connection = redis.Redis.from_url(REDIS_URL)
        for key in connection.scan_iter(match=f"{key_prefix}*", count=500):
            connection.delete(key)
        connection.close()


def test_retry_after_is_the_time_left_and_only_on_429(client, app):
    answers = [register(client, f"+99890{1000000 + n}") for n in range(4)]
    assert [answer.status_code for answer in answers[:3]] == [201, 201, 201]
    assert all("Retry-After" not in answer.headers for answer in answers[:3])

    refused = answers[3]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_successful_sign_ins_do_not_use_up_the_per_phone_limit(api, client):
    """Only failures count per phone, so the owner is not held off by success."""
    api.with_password(PHONE, PASSWORD)
    sign_ins = [
        client.post(
            "/api/v1/auth/login/",
            json={"phone_number": PHONE, "password": PASSWORD},
            **from_ip(f"198.51.100.{20 + n}"),
        )
        for n in range(4)
    ]
    assert [answer.status_code for answer in sign_ins] == [200, 200, 200, 200]

    guesses = [guess(client, PHONE, ip=f"198.51.100.{30 + n}") for n in range(4)]
    assert [answer.status_code for answer in guesses] == [400, 400, 400, 429]
