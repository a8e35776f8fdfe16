"""docker-compose.yml, checked by the compose client itself (no engine needed).

`docker compose config` (or the older `docker-compose config`) validates the
file, fills in the variables and prints the result; where neither client is
installed these tests are skipped with the reason.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"SECRET_KEY": "not-a-real-key", "POSTGRES_PASSWORD": "not-a-real-password"}


def compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def compose():
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    return command


def compose_config(compose, environment: dict, tmp_path) -> subprocess.CompletedProcess:
    """The file as compose reads it, from `environment` alone (no .env file)."""
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    inherited = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    return subprocess.run(
        [
            *compose,
            "--file",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(empty_env_file),
            "config",
        ],
        cwd=tmp_path,
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_runs_the_app_after_migrations_with_postgres_and_redis(
    compose, tmp_path
):
    result = compose_config(compose, REQUIRED, tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]

    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for name in ("db", "redis", "app"):
        assert services[name]["healthcheck"]["test"], name

    app = services["app"]
    assert app["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert app["environment"]["DATABASE_URL"] == (
        "postgresql+psycopg://portal:not-a-real-password@db:5432/portal"
    )
    assert app["environment"]["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert app["environment"]["SECRET_KEY"] == "not-a-real-key"
    assert "healthz" in " ".join(app["healthcheck"]["test"])

    migrate = services["migrate"]
    assert migrate["command"] == ["flask", "db", "upgrade"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["image"] == app["image"]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_refuses_to_start_without_its_secrets(compose, missing, tmp_path):
    environment = {key: value for key, value in REQUIRED.items() if key != missing}

    result = compose_config(compose, environment, tmp_path)

    assert result.returncode != 0
    assert missing in result.stderr
