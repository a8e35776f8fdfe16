"""A real Portal server in a child process, for tests that need true concurrency.

Run as `python -m tests.live_server`: it builds the test app with the JSON
overrides in PORTAL_LIVE_CONFIG, binds a threaded werkzeug server to a free
port on 127.0.0.1 (the OS picks it) and prints that port on its first line.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 20
REQUEST_TIMEOUT_SECONDS = 30


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers_healthz(base_url: str, timeout: float) -> bool:
    """True once the server at base_url answers /healthz with 200."""
    try:
        return requests.get(f"{base_url}/healthz", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


class LiveServer:
    """A started child process and the base URL it answers on."""

    def __init__(self, database_url: str, log_path: Path, **overrides) -> None:
        self.log_file = open(log_path, "w")  # closed in stop()
        environment = {
            **os.environ,
            "PORTAL_LIVE_CONFIG": json.dumps(
                {"SQLALCHEMY_DATABASE_URI": database_url, **overrides}
            ),
        }
        environment.pop("FLASK_DEBUG", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.live_server"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
        )
        port = self._read_port()
        self.base_url = f"http://127.0.0.1:{port}"

    def _read_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                line = self.process.stdout.readline()
                if line.strip().isdigit():
                    return int(line)
            if self.process.poll() is not None:
                break
        self.stop()
        raise RuntimeError("the live server did not start; see its log file")

    def post(self, path: str, body: dict, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(
            self.base_url + path,
            json=body,
            headers=headers,
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process.stdout.close()
        self.log_file.close()


def in_parallel(count: int, send) -> list:
    """Call `send(index)` from `count` threads released at the same moment."""
    start_line = Barrier(count, timeout=REQUEST_TIMEOUT_SECONDS)

    def released_send(index: int):
        start_line.wait()
        return send(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(released_send, range(count)))


def main() -> None:
    from werkzeug.serving import make_server

    from portal import create_app
    from portal.config import TestConfig

    config = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    config.update(json.loads(os.environ["PORTAL_LIVE_CONFIG"]))
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
