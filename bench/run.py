"""Benchmark Portal at 10,000 to 1,000,000 members; write bench/RESULTS.md.

`make bench` runs this. It creates a PostgreSQL database of its own
(`portal_bench`, dropped at the end), seeds it with `flask seed-users` step
by step, and at each size starts gunicorn on a free loopback port and drives
it with wrk (every run bounded by its duration). Each size is measured in
several rounds; a figure is reported as min / median / max over the rounds.

    python bench/run.py                 # the full run, about 25 minutes
    python bench/run.py --quick         # a smoke run in about a minute
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# Logs and smoke runs; not kept in git.
OUT_DIR = BENCH_DIR / "out"
ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
BENCH_DATABASE = "portal_bench"
SECRET_KEY = "bench-only-secret-key-0123456789abcdef0123456789"
PASSWORD = "bench horse battery staple"
# Accounts made for the login runs live under +998 33, apart from the seeded
# +998 9X numbers, so they never shift where the next seeding starts.
LOGIN_PREFIX = "+99833"
PASSWORD_ACCOUNTS = 8
PASSWORD_LOGIN_DURATION_FACTOR = 3
WORKERS = 2
SEARCH_CONNECTIONS = 2
LOAD_CONNECTIONS = 16
LOAD_THREADS = 2
SEED_STEP = 100_000
# Fresh accounts per second of an invite-login run: well above the rate seen.
INVITE_LOGINS_PER_S = 2_000
SERVER_START_TIMEOUT = 30
WRK_GRACE = 30
DRAIN_TIMEOUT = 120

# The same strings at every size. The prefix matches 100 seeded numbers at any
# size from 10,000; the no-match query is a number no seeded member has.
SEARCHES = {
    "phone infix": "4567",
    "phone prefix": "+998 90 000 12",
    "invite code": None,  # the code of seeded member 5,000, read at run time
    "no match": "+998 99 999 99 99",
    "empty": "",
}
ENDPOINTS = ("healthz", "me", "password login", "invite login")

BENCH_ENV = {
    "DATABASE_URL": f"{SERVER_URL}/{BENCH_DATABASE}",
    "SECRET_KEY": SECRET_KEY,
    "RATELIMIT_ENABLED": "false",
    "SMS_BACKEND": "memory",
    "SESSION_COOKIE_SECURE": "false",
    "JWT_ACCESS_TTL": "7200",
    "FLASK_APP": "wsgi",
    "FLASK_DEBUG": "0",
}
os.environ.update(BENCH_ENV)

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import db_time, report, sql_counts  # noqa: E402


def main() -> None:
    options = parse_options()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")

    results = {
        "machine": machine_info(),
        "settings": {
            "sizes": options.sizes,
            "rounds": options.rounds,
            "duration_s": options.duration,
            "workers": WORKERS,
            "search_connections": SEARCH_CONNECTIONS,
            "load_connections": LOAD_CONNECTIONS,
        },
        "seed_runs": [],
        "sizes": {},
    }
    admin_engine = sa.create_engine(
        f"{SERVER_URL}/postgres", isolation_level="AUTOCOMMIT"
    )
    create_database(admin_engine)
    try:
        results["indexes"] = prepare_schema()
        engine = sa.create_engine(
            BENCH_ENV["DATABASE_URL"], isolation_level="AUTOCOMMIT"
        )
        seeded = 0
        for size in options.sizes:
            results["seed_runs"] += seed_to(size, seeded)
            seeded = size
            engine_analyze(engine)
            results["sizes"][str(size)] = measure_size(engine, size, options)
            save(results, options.output)
        engine.dispose()
    finally:
        drop_database(admin_engine)
        admin_engine.dispose()

    save(results, options.output)
    report.write(results, options.output)
    print(f"Wrote {options.output / 'RESULTS.md'}")


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")])
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=int, help="seconds per wrk run")
    parser.add_argument("--output", type=Path, default=BENCH_DIR)
    options = parser.parse_args()

    defaults = (
        ([2_000, 5_000], 1, 1)
        if options.quick
        else ([10_000, 100_000, 200_000, 1_000_000], 5, 2)
    )
    options.sizes = options.sizes or defaults[0]
    options.rounds = options.rounds or defaults[1]
    options.duration = options.duration or defaults[2]
    if options.quick and options.output == BENCH_DIR:
        options.output = OUT_DIR / "quick"
    options.output.mkdir(parents=True, exist_ok=True)
    OUT_DIR.mkdir(exist_ok=True)
    return options


def machine_info() -> dict:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    engine = sa.create_engine(f"{SERVER_URL}/postgres")
    with engine.connect() as connection:
        pg_version = connection.scalar(sa.text("SHOW server_version"))
        shared_buffers = connection.scalar(sa.text("SHOW shared_buffers"))
    engine.dispose()
    wrk_banner = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    gunicorn_version = subprocess.run(
        [BIN / "gunicorn", "--version"], capture_output=True, text=True
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model,
        "memory_gib": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "shared_buffers": shared_buffers,
        "gunicorn": (gunicorn_version.stdout or gunicorn_version.stderr).strip(),
        "wrk": (wrk_banner.stdout or wrk_banner.stderr).splitlines()[0].strip(),
        "sqlalchemy": sa.__version__,
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip(),
    }


def create_database(admin_engine) -> None:
    with admin_engine.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}"))
        connection.execute(sa.text(f"CREATE DATABASE {BENCH_DATABASE}"))


def drop_database(admin_engine) -> None:
    with admin_engine.connect() as connection:
        connection.execute(
            sa.text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        )


def prepare_schema() -> dict:
    """Migrate; add the trigram indexes here while no migration makes them."""
    run_checked([BIN / "flask", "db", "upgrade"])
    engine = sa.create_engine(BENCH_ENV["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        revision = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        trigram_columns = set(
            connection.scalars(
                sa.text(
                    "SELECT a.attname FROM pg_index i"
                    " JOIN pg_class c ON c.oid = i.indexrelid"
                    " JOIN pg_opclass o ON o.oid = i.indclass[0]"
                    " JOIN pg_attribute a"
                    "   ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                    " WHERE i.indrelid = 'users'::regclass"
                    "   AND o.opcname = 'gin_trgm_ops'"
                )
            )
        )
        added_by_bench = []
        for column in ("phone_e164", "invite_code"):
            if column in trigram_columns:
                continue
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            connection.execute(
                sa.text(
                    f"CREATE INDEX ix_users_{column}_trgm"
                    f" ON users USING gin ({column} gin_trgm_ops)"
                )
            )
            added_by_bench.append(column)
    engine.dispose()
    return {"revision": revision, "trigram_indexes_added_by_bench": added_by_bench}


def seed_to(size: int, seeded: int) -> list[dict]:
    """Seed up to `size` members in steps of at most 100,000, timing each."""
    runs = []
    while seeded < size:
        step = min(SEED_STEP - seeded % SEED_STEP, size - seeded)
        output = run_checked([BIN / "flask", "seed-users", str(step)])
        seconds = float(re.search(r"Inserted \d+ members in ([\d.]+) s", output)[1])
        runs.append({"from": seeded, "count": step, "seconds": seconds})
        print(f"seeded {seeded + step:,} (+{step:,} in {seconds:.1f} s)", flush=True)
        seeded += step
    return runs


def engine_analyze(engine) -> None:
    """What autovacuum does soon after a bulk load, done now so plans are stable."""
    with engine.connect() as connection:
        connection.execute(sa.text("VACUUM ANALYZE users"))


def measure_size(engine, size: int, options) -> dict:
    print(f"measuring at {size:,} members", flush=True)
    prepare_password_accounts(engine)
    searches = dict(SEARCHES, **{"invite code": seeded_invite_code(engine, size)})
    rounds = []
    with Server() as server:
        access_token = api_login(server.url, 1)
        session_cookie = web_login(server.url, 2)
        counts = {
            name: search_count(server.url, access_token, text)
            for name, text in searches.items()
        }
        warm_up(server, searches, access_token, session_cookie)
        for round_number in range(options.rounds):
            rounds.append(
                measure_round(
                    engine, server, searches, access_token, session_cookie, options
                )
            )
            print(f"  round {round_number + 1}/{options.rounds} done", flush=True)
        statements = sql_counts.measure(
            password_phone(1), PASSWORD, make_invite_accounts(engine, 1)[0]
        )
        delete_login_accounts(engine)
    database_ms = db_time.measure(searches, options.rounds)

    return {
        "search_database_ms": database_ms,
        "search_counts": counts,
        "searches": searches,
        "rounds": rounds,
        "sql_statements": statements,
    }


def measure_round(engine, server, searches, access_token, session_cookie, options):
    duration = options.duration
    bearer = {"Authorization": f"Bearer {access_token}"}
    partial = {"Cookie": f"session={session_cookie}", "HX-Request": "true"}
    figures = {
        "search_api": {},
        "search_html": {},
        "load": {},
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }

    for name, text in searches.items():
        query = requests.compat.urlencode({"search": text})
        figures["search_api"][name] = wrk(
            f"{server.url}/api/v1/users/list/?{query}",
            duration,
            SEARCH_CONNECTIONS,
            1,
            bearer,
        )
        figures["search_html"][name] = wrk(
            f"{server.url}/users?{query}", duration, SEARCH_CONNECTIONS, 1, partial
        )

    figures["load"]["healthz"] = wrk(
        f"{server.url}/healthz", duration, LOAD_CONNECTIONS, LOAD_THREADS
    )
    figures["load"]["me"] = wrk(
        f"{server.url}/api/v1/users/me/",
        duration,
        LOAD_CONNECTIONS,
        LOAD_THREADS,
        bearer,
    )
    password_bodies = [
        {"phone_number": password_phone(n), "password": PASSWORD}
        for n in range(1, PASSWORD_ACCOUNTS + 1)
    ]
    # Each argon2 check takes a good fraction of a second: run longer for samples.
    figures["load"]["password login"] = wrk(
        f"{server.url}/api/v1/auth/login/",
        duration * PASSWORD_LOGIN_DURATION_FACTOR,
        LOAD_CONNECTIONS,
        LOAD_THREADS,
        bodies=password_bodies,
    )

    invite_accounts = make_invite_accounts(engine, int(INVITE_LOGINS_PER_S * duration))
    figures["load"]["invite login"] = wrk(
        f"{server.url}/api/v1/auth/login/",
        duration,
        LOAD_CONNECTIONS,
        LOAD_THREADS,
        bodies=invite_accounts,
        once=True,
    )
    figures["load"]["invite login"]["accounts"] = len(invite_accounts)
    delete_login_accounts(engine)

    figures["worker_rss_mib"] = server.worker_rss_mib()
    return figures


class Server:
    """gunicorn as shipped (gunicorn.conf.py) on a free loopback port.

    Two workers, as the reference measurement; worker recycling is off so the
    RSS figures show what a worker grows to, not a fresh one.
    """

    def __enter__(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        OUT_DIR.mkdir(exist_ok=True)
        self.log = open(OUT_DIR / "gunicorn.log", "ab")
        env = dict(
            os.environ, WEB_CONCURRENCY=str(WORKERS), GUNICORN_BIND=f"127.0.0.1:{port}"
        )
        self.process = subprocess.Popen(
            [
                BIN / "gunicorn",
                "--config",
                ROOT / "gunicorn.conf.py",
                "--max-requests",
                "0",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            except BaseException:
                self.__exit__(None, None, None)
                raise
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("gunicorn did not answer /healthz in time")

    def __exit__(self, *exc_info):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def worker_rss_mib(self) -> list[float]:
        children_path = Path(
            f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        )
        sizes = []
        for pid in children_path.read_text().split():
            status = Path(f"/proc/{pid}/status").read_text()
            rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            sizes.append(round(rss_kb / 1024, 1))
        return sorted(sizes)


def wrk(url, duration, connections, threads, headers=None, bodies=None, once=False):
    """One bounded wrk run; its latency figures in milliseconds."""
    command = [
        "wrk",
        "--latency",
        f"--duration={duration}s",
        f"--connections={connections}",
        f"--threads={threads}",
        "--timeout=10s",
        f"--script={BENCH_DIR / 'wrk' / 'bench.lua'}",
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    env = dict(os.environ, BENCH_THREADS=str(threads), BENCH_ONCE="1" if once else "0")
    bodies_path = OUT_DIR / "bodies.jsonl"
    if bodies:
        bodies_path.write_text("".join(json.dumps(body) + "\n" for body in bodies))
        env["BENCH_BODIES"] = str(bodies_path)
    try:
        finished = subprocess.run(
            [*command, url],
            env=env,
            capture_output=True,
            text=True,
            timeout=duration + WRK_GRACE,
            check=True,
        )
    finally:
        bodies_path.unlink(missing_ok=True)

    line = next(
        line for line in finished.stdout.splitlines() if line.startswith("BENCH_JSON ")
    )
    summary = json.loads(line.removeprefix("BENCH_JSON "))
    drain(url)
    seconds = summary["duration_us"] / 1e6
    return {
        "requests": summary["requests"],
        "rps": round(summary["requests"] / seconds, 1),
        "p50_ms": summary["p50_us"] / 1000,
        "p95_ms": summary["p95_us"] / 1000,
        "max_ms": summary["max_us"] / 1000,
        "errors": summary["non_2xx"] + summary["socket_errors"],
    }


def drain(url: str) -> None:
    """Wait until gunicorn has answered what wrk left queued when it stopped.

    Requests still in the listen backlog would otherwise run during the next
    measurement (and, for invite codes, after their accounts are deleted).
    An answered request per worker means the queue ahead of it is done.
    """
    health_url = re.sub(r"(https?://[^/]+).*", r"\1/healthz", url)
    for _ in range(WORKERS):
        requests.get(health_url, timeout=DRAIN_TIMEOUT)


def warm_up(server, searches, access_token, session_cookie) -> None:
    """One short pass over every URL, so the first round is not the cold one."""
    bearer = {"Authorization": f"Bearer {access_token}"}
    for text in searches.values():
        query = requests.compat.urlencode({"search": text})
        wrk(f"{server.url}/api/v1/users/list/?{query}", 1, 2, 1, bearer)
    wrk(f"{server.url}/api/v1/users/me/", 1, 2, 1, bearer)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_checked(command) -> str:
    finished = subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if finished.returncode != 0:
        sys.exit(f"{command} failed:\n{finished.stdout}\n{finished.stderr}")
    return finished.stdout


def password_phone(number: int) -> str:
    """The phone of seeded member `number` (1-based), as seed-users numbers them."""
    return f"+9989{number - 1:08d}"


def prepare_password_accounts(engine) -> None:
    from portal.services.passwords import hash_password

    phones = [password_phone(n) for n in range(1, PASSWORD_ACCOUNTS + 1)]
    with engine.connect() as connection:
        connection.execute(
            sa.text(
                "UPDATE users SET password_hash = :hash WHERE phone_e164 = ANY(:phones)"
            ),
            {"hash": hash_password(PASSWORD), "phones": phones},
        )


def make_invite_accounts(engine, count: int) -> list[dict]:
    """Verified accounts that have never signed in, each with its invite code."""
    from portal import create_app
    from portal.services import codes

    with create_app().app_context():
        accounts = []
        with engine.connect() as connection:
            start = connection.scalar(
                sa.text("SELECT count(*) FROM users WHERE phone_e164 LIKE :prefix"),
                {"prefix": LOGIN_PREFIX + "%"},
            )
            for offset in range(count):
                invite_code = codes.new_invite_code()
                accounts.append(
                    {
                        "phone_e164": f"{LOGIN_PREFIX}{start + offset:07d}",
                        "invite_code": invite_code,
                        "invite_code_hash": codes.keyed_hash("invite", invite_code),
                    }
                )
            connection.execute(
                sa.text(
                    "INSERT INTO users (phone_e164, is_verified, is_active, is_admin,"
                    " invite_code_hash, token_version, date_joined)"
                    " VALUES (:phone_e164, true, true, false, :invite_code_hash, 0,"
                    " now())"
                ),
                accounts,
            )
    return [
        {"phone_number": account["phone_e164"], "invite_code": account["invite_code"]}
        for account in accounts
    ]


def delete_login_accounts(engine) -> None:
    with engine.connect() as connection:
        connection.execute(
            sa.text("DELETE FROM users WHERE phone_e164 LIKE :prefix"),
            {"prefix": LOGIN_PREFIX + "%"},
        )


def seeded_invite_code(engine, size: int) -> str:
    """The code of seeded member 5,000 (or of the middle one, in a small run)."""
    with engine.connect() as connection:
        return connection.scalar(
            sa.text("SELECT invite_code FROM users WHERE phone_e164 = :phone"),
            {"phone": password_phone(min(5_000, size // 2))},
        )


def api_login(url: str, number: int) -> str:
    response = requests.post(
        f"{url}/api/v1/auth/login/",
        json={"phone_number": password_phone(number), "password": PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access"]


def web_login(url: str, number: int) -> str:
    """Sign in through the HTML form, CSRF token and all; return the session."""
    browser = requests.Session()
    page = browser.get(f"{url}/login", timeout=10)
    csrf_token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)[1]
    response = browser.post(
        f"{url}/login",
        data={
            "csrf_token": csrf_token,
            "phone_number": password_phone(number),
            "password": PASSWORD,
        },
        timeout=10,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise RuntimeError(f"web sign-in answered {response.status_code}")
    return browser.cookies["session"]


def search_count(url: str, access_token: str, text: str) -> int:
    response = requests.get(
        f"{url}/api/v1/users/list/",
        params={"search": text},
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["count"]


def save(results: dict, output: Path) -> None:
    (output / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
