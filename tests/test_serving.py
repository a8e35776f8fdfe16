"""Serving: `make serve`, gunicorn's log lines, the SECRET_KEY guard, .env.example.

The server tests start real processes on a free loopback port with a
SQLite file of their own, and stop them (their whole process group) at the
end.
"""

import os
import re
import runpy
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from dotenv import dotenv_values

from portal import create_app
from portal.config import DEFAULT_SECRET_KEY
from tests.live_server import answers_healthz, free_port

ROOT = Path(__file__).resolve().parent.parent
PORTAL_VARIABLES = re.compile(
    r'(?:os\.environ\.get|_env_int|_env_bool|_env_list)\(\s*"([A-Z_]+)"'
)
GUNICORN_VARIABLES = {"GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS"}
STRONG_KEY = "a-long-random-value-used-only-by-the-serving-tests-0123456789"


def config_variables() -> set[str]:
    """Every environment variable portal/config.py reads."""
    return set(PORTAL_VARIABLES.findall((ROOT / "portal" / "config.py").read_text()))


def server_environment(tmp_path: Path, port: int, **settings) -> dict:
    """The machine's environment without Portal's settings, plus `settings`."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in config_variables() | GUNICORN_VARIABLES | {"FLASK_DEBUG"}
    }
    environment.update(
        FLASK_SKIP_DOTENV="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        SMS_BACKEND="console",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        **settings,
    )
    return environment


def start_serve(environment: dict) -> subprocess.Popen:
    return subprocess.Popen(
        ["make", "--no-print-directory", "serve"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> tuple[str, str]:
    """End the process group we started; return what it printed."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate(timeout=5)


def wait_until_healthy(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if answers_healthz(base_url, timeout=5):
            return
        time.sleep(0.2)
    output, errors = stop(process)
    pytest.fail(f"the server never answered /healthz:\n{output}\n{errors}")


@pytest.mark.parametrize("secret_key", [None, "", DEFAULT_SECRET_KEY])
def test_start_up_refuses_a_missing_or_default_secret_key(secret_key):
    settings = {"DEBUG": False, "TESTING": False, "SECRET_KEY": secret_key}

    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({**settings, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_debug_mode_starts_with_the_default_secret_key():
    app = create_app(
        {
            "DEBUG": True,
            "SECRET_KEY": DEFAULT_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
        }
    )

    assert app.debug is True


def test_gunicorn_workers_follow_the_cpu_count(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 3)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"] == 7

    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"] == 2


def test_make_serve_migrates_and_serves_with_one_log_line_per_request(tmp_path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_serve(server_environment(tmp_path, port, SECRET_KEY=STRONG_KEY))
    try:
        wait_until_healthy(base_url, process)
        register = requests.post(
            f"{base_url}/api/v1/auth/register/?token=QUERY-SECRET",
            json={"phone_number": "+998901234567"},
            timeout=10,
        )
        directory = requests.get(
            f"{base_url}/api/v1/users/list/",
            headers={"Authorization": "Bearer HEADER-SECRET"},
            timeout=10,
        )
    finally:
        output, errors = stop(process)

    assert register.status_code == 201
    assert directory.status_code == 401
    assert re.search(r"access POST /api/v1/auth/register/ 201 \d+ms$", output, re.M)
    assert re.search(r"access GET /api/v1/users/list/ 401 \d+ms$", output, re.M)
    assert "Running upgrade 0001 -> 0002" in errors
    # gunicorn's access line is the only request line: the app's own is muted.
    assert "portal.requests" not in errors

    with sqlite3.connect(tmp_path / "serve.sqlite3") as database:
        (sms_text,) = database.execute("SELECT text FROM outbox_messages").fetchone()
    codes = re.findall(r"code ([0-9A-Z]{6,8})", sms_text)
    assert len(codes) == 2
    for secret in ["QUERY-SECRET", "HEADER-SECRET", STRONG_KEY, *codes]:
        assert secret not in output + errors


def test_make_serve_stops_with_a_clear_message_without_secret_key(tmp_path):
    process = start_serve(server_environment(tmp_path, free_port()))
    try:
        process.wait(timeout=60)
    finally:
        output, errors = stop(process)

    assert process.returncode != 0
    assert "SECRET_KEY is not set" in errors


def test_env_example_names_every_setting_with_a_comment_each():
    lines = (ROOT / ".env.example").read_text().splitlines()
    documented = {}
    for number, line in enumerate(lines):
        if line and not line.startswith("#"):
            name = line.split("=", 1)[0]
            documented[name] = lines[number - 1].startswith("#")

    expected = config_variables() | GUNICORN_VARIABLES | {"FLASK_DEBUG"}
    assert expected <= set(documented)
    assert [name for name, commented in documented.items() if not commented] == []


def test_env_example_values_are_the_defaults(tmp_path):
    """Copying .env.example to .env changes nothing but the secret key."""
    settings_script = (
        "import json; from portal import create_app; app = create_app(); "
        "print(json.dumps({k: repr(sorted(v) if isinstance(v, set) else v) "
        "for k, v in app.config.items() if k.isupper()}))"
    )
    base = server_environment(tmp_path, 0, SECRET_KEY=STRONG_KEY)
    example = {
        key: value
        for key, value in dotenv_values(ROOT / ".env.example").items()
        if key not in {"SECRET_KEY", "DATABASE_URL"}
    }

    def app_settings(environment: dict) -> str:
        return subprocess.run(
            [sys.executable, "-c", settings_script],
            cwd=tmp_path,
            env={**environment, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    assert app_settings({**base, **example}) == app_settings(base)


def test_start_up_refuses_a_short_secret_key():
    settings = {"DEBUG": False, "TESTING": False, "SECRET_KEY": "abc"}

    with pytest.raises(RuntimeError, match="shorter than 32 characters"):
        create_app({**settings, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_debug_mode_swaps_the_public_default_for_a_random_kept_key():
    settings = {
        "DEBUG": True,
        "SECRET_KEY": DEFAULT_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
    }
    first, second = create_app(settings), create_app(settings)

    assert first.config["SECRET_KEY"] != DEFAULT_SECRET_KEY
    assert len(first.config["SECRET_KEY"]) == 64
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
