"""A real Portal server and Debian's chromium, driven by Playwright.

The server is `flask run` in a child process with the debug config (so
/dev/outbox exists), the console SMS backend and a SQLite file in a temporary
folder, on a free port of 127.0.0.1. Its schema comes from `flask db upgrade`
and its admin from `flask create-admin`, the same commands people use.

Every page a test opens collects console messages and page errors; any error
(a CSP violation included) fails the test at teardown, and every page leaves
a screenshot in test-artifacts/screenshots/.

Without /usr/bin/chromium the suite is skipped, unless PORTAL_REQUIRE_BROWSER=1
(set by CI) turns the skip into a failure.
"""

import itertools
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live_server import answers_healthz, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("PORTAL_REQUIRE_BROWSER") == "1"
SERVER_START_SECONDS = 20
ADMIN_PHONE = "+998977000001"
ADMIN_PASSWORD = "admin pass for the browser suite"
MEMBER_PASSWORD = "browser member password"
SEEDED_MEMBERS = 45
CONFIRMATION_CODE = re.compile(r"confirmation code (\d{6})")
INVITE_CODE = re.compile(r"invite code ([A-Z0-9]{8})")

# Numbers of the form +99893 1XX XX XX, one per person a test signs up.
phone_numbers = (f"+998931{n:06d}" for n in itertools.count(1))


def pytest_collection_modifyitems(config, items):
    """Skip the browser suite where chromium is missing, unless CI requires it."""
    if Path(CHROMIUM).exists() or REQUIRE_BROWSER:
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium)")
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(skip)


def run_flask(env: dict, *args: str, stdin: str | None = None) -> str:
    """Run one `flask` command against the test server's database."""
    completed = subprocess.run(
        [sys.executable, "-m", "flask", *args],
        input=stdin,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Start Portal on a free loopback port; yield its base URL; stop it."""
    workdir = tmp_path_factory.mktemp("portal-server")
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "FLASK_DEBUG": "1",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}",
        "SMS_BACKEND": "console",
        "RATELIMIT_ENABLED": "false",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_HOST": "",
        "PROXY_COUNT": "0",
        "REDIS_URL": "",
        "PORTAL_DEFAULT_REGION": "UZ",
        "PORTAL_ALLOWED_REGIONS": "UZ",
        "LOG_LEVEL": "WARNING",
    }
    run_flask(env, "db", "upgrade")
    # Seeded first, so their numbers start at the bottom of the seed range.
    run_flask(env, "seed-users", str(SEEDED_MEMBERS))
    run_flask(
        env, "create-admin", ADMIN_PHONE, "--password-stdin", stdin=ADMIN_PASSWORD
    )

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = workdir / "server.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-reload",
                "--no-debugger",
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(base_url, process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_up(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server stopped at start-up:\n{log_path.read_text()}")
        if answers_healthz(base_url, timeout=1):
            return
        time.sleep(0.1)
    pytest.fail(f"the server did not answer in time:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (PORTAL_REQUIRE_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session", autouse=True)
def fresh_screenshots():
    """Start each run with an empty screenshot folder, so none is stale."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)


class PageWatcher:
    """Opens pages in fresh contexts and records what their consoles say."""

    def __init__(self, browser, base_url: str, test_name: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.test_name = test_name
        self.contexts = []
        self.pages = []
        self.problems: list[str] = []
        self.expected_failures: set[tuple[int, str]] = set()

    def new_page(self, width: int = 1280, height: int = 800):
        """A page in a context of its own: its own cookies, its own person."""
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": width, "height": height}
        )
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"pageerror {error}"))
        self.contexts.append(context)
        self.pages.append(page)
        return page

    def expect_status(self, status: int, path: str) -> None:
        """Accept the console error chromium writes when `path` answers `status`."""
        self.expected_failures.add((status, self.base_url + path))

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        for status, url in self.expected_failures:
            if (
                f"the server responded with a status of {status}" in message.text
                and message.location.get("url") == url
            ):
                return
        self.problems.append(f"console {message.text} at {message.location}")

    def screenshot(self, page, label: str = "", file_name: str = "") -> Path:
        """Save a full-page PNG, named after the test unless `file_name` is given."""
        suffix = f"-{label}" if label else ""
        path = SCREENSHOTS / f"{file_name or self.test_name + suffix}.png"
        # caret="hide" would add a <style> to the page: the CSP blocks it, and
        # htmx's history snapshot keeps it, so a later "back" logs a violation.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    def close(self) -> None:
        for index, page in enumerate(self.pages, start=1):
            if not page.is_closed():
                self.screenshot(page, f"end-{index}")
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, server, request):
    """Open pages with `pages.new_page()`; console errors fail the test."""
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    watcher = PageWatcher(browser, server, test_name)
    yield watcher
    watcher.close()
    assert watcher.problems == [], "JavaScript errors:\n" + "\n".join(watcher.problems)


@pytest.fixture
def page(pages):
    return pages.new_page()


def new_phone() -> str:
    return next(phone_numbers)


def sms_for(page, phone: str) -> str:
    """The newest SMS text the console backend sent to this phone."""
    messages = page.request.get("/dev/outbox.json").json()
    texts = [message["text"] for message in messages if message["to"] == phone]
    assert texts, f"no SMS to {phone} in the outbox"
    return texts[0]


def sign_up(page, phone: str, referral_code: str = "") -> str:
    """Register, confirm, sign in once and set a password; return the invite code."""
    page.goto("/register")
    page.get_by_label("Phone number").fill(phone)
    if referral_code:
        page.get_by_label("Invite code of the member who invited you").fill(
            referral_code
        )
    page.get_by_role("button", name="Send me the codes").click()
    page.wait_for_url("**/verify?*")

    text = sms_for(page, phone)
    page.get_by_label("Confirmation code").fill(CONFIRMATION_CODE.search(text)[1])
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/login?*")

    invite_code = INVITE_CODE.search(text)[1]
    page.get_by_label("invite code from the SMS").fill(invite_code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/set-password")

    page.get_by_label("New password", exact=True).fill(MEMBER_PASSWORD)
    page.get_by_label("New password again").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Save password").click()
    page.wait_for_url("**/me")
    return invite_code


def sign_in(page, phone: str, password: str = MEMBER_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Phone number").fill(phone)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/me")


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/")
