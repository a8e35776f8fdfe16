"""Redis: the limiter's counters live there, and /healthz reports it.

These tests use the real Redis at PORTAL_TEST_REDIS_URL (default the local
server). Where none answers they are skipped, unless PORTAL_REQUIRE_REDIS=1
(set by CI) turns the skip into a failure. Each test counts under a key
prefix of its own and deletes its keys at the end. The prefix is the run's
(conftest.RUN_KEY_PREFIX): Flask-Limiter keeps the first prefix it was given
for the whole process, so each test deletes its keys when it ends instead.
"""

import logging
import os
import socket

import pytest
import redis

from tests.conftest import PHONE, RUN_KEY_PREFIX

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("PORTAL_REQUIRE_REDIS") == "1"


def closed_port_url() -> str:
    """A Redis URL on a loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        reason = f"Redis at {REDIS_URL} does not answer: {type(exc).__name__}"
        if REQUIRE_REDIS:
            pytest.fail(reason + " (PORTAL_REQUIRE_REDIS=1)")
        pytest.skip(reason)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client):
    """The run's key prefix; the keys under it are deleted after each test."""
    yield RUN_KEY_PREFIX
    keys = list(redis_client.scan_iter(match=f"*{RUN_KEY_PREFIX}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def config_overrides(request, key_prefix):
    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_PER_PHONE": "2/minute",
        "CODE_RESEND_COOLDOWN": 0,
        **getattr(request, "param", {}),
    }


def test_healthz_reports_the_database_and_redis(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.parametrize(
    "config_overrides", [{"REDIS_URL": closed_port_url()}], indirect=True
)
def test_healthz_answers_503_naming_redis_when_it_does_not_answer(client, caplog):
    caplog.set_level(logging.WARNING, logger="portal.services.health")

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": "ok",
        "redis": "unavailable",
    }
    assert "healthz redis unavailable error=ConnectionError" in caplog.text


@pytest.mark.parametrize(
    "config_overrides",
    [{"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_ENABLED": False}],
    indirect=True,
)
def test_healthz_leaves_redis_out_when_none_is_configured(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_the_limiter_counts_in_redis_and_answers_429(api, redis_client, key_prefix):
    """The per-phone limit counts failed requests, so wrong codes fill it."""
    api.register(PHONE)
    wrong_code = {"phone_number": PHONE, "code": "000000"}
    for _ in range(2):
        response = api.post("/auth/verify-code/", wrong_code)
        assert response.status_code == 400

    response = api.post("/auth/verify-code/", wrong_code)

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert list(redis_client.scan_iter(match=f"*{key_prefix}*signup-phone*"))
