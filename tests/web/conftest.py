"""The real server with the Lima demo, and headless Debian Chromium driven by Playwright.

One server per session (seeding the demo is the slow part); each test gets a fresh browser
context, so sessionStorage (the page's token) never leaks between tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
FLASK = str(REPO / ".venv" / "bin" / "flask")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
DEMO_ACCOUNTS = "200"
PASSWORD = "demo"


def _skip(reason: str) -> None:
    # Printed as well as reported, so `make test` output says why the browser tests did not run.
    print(f"\nbrowser tests skipped: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoServer:
    """The running app, plus API helpers the tests use to check what the pages show."""

    url: str
    today: str
    instance: Path
    tokens: dict[str, str] = field(default_factory=dict)
    devices: dict[int, str] = field(default_factory=dict)
    device_ids: dict[int, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        if username not in self.tokens:
            response = requests.post(
                f"{self.url}/api/v1/auth/token",
                json={"username": username, "password": PASSWORD},
                timeout=10,
            )
            response.raise_for_status()
            self.tokens[username] = response.json()["access_token"]
        return self.tokens[username]

    def api(self, method: str, path: str, username: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(username)}"}
        return requests.request(
            method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs
        )

    def get(self, path: str, username: str = "admin") -> Any:
        response = self.api("GET", path, username)
        response.raise_for_status()
        return response.json()

    def active_collectors(self) -> list[dict[str, Any]]:
        return list(self.get("/collectors?active=true&page_size=100"))

    def post_fix(
        self, collector_id: int, lat: float, lon: float, age_s: float = 0.0
    ) -> dict[str, Any]:
        """A fix from the collector's registered handheld, taken ``age_s`` seconds ago."""
        response = requests.post(
            f"{self.url}/api/v1/tracking/positions",
            json={
                "positions": [
                    {
                        "fix_time": (datetime.now(UTC) - timedelta(seconds=age_s)).isoformat(),
                        "lat": lat,
                        "lon": lon,
                        "accuracy_m": 8.0,
                        "speed_mps": 4.0,
                    }
                ]
            },
            headers={"Authorization": f"Bearer {self.devices[collector_id]}"},
            timeout=10,
        )
        response.raise_for_status()
        return dict(response.json())

    def push(self, collector_id: int, mutations: list[dict[str, Any]]) -> dict[str, Any]:
        """Mutations from the collector's handheld, as the sync protocol sends them."""
        response = requests.post(
            f"{self.url}/api/v1/sync/push",
            json={"device_id": self.device_ids[collector_id], "mutations": mutations},
            headers={"Authorization": f"Bearer {self.devices[collector_id]}"},
            timeout=30,
        )
        response.raise_for_status()
        return dict(response.json())


def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [FLASK, *args],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready in 60 s")


def _field_day(server: DemoServer) -> None:
    """Every active collector gets a handheld, an all-day shift and a first fix.

    Fixes outside a shift are never stored (privacy), and the tests may run at night.
    """
    server.token("admin")
    server.token("dispatcher")

    def start(collector: dict[str, Any]) -> None:
        cid = collector["id"]
        shift = {"shift_start": "00:00", "shift_end": "23:59"}
        server.api("PATCH", f"/collectors/{cid}", "admin", json=shift).raise_for_status()
        handheld = {"name": "web-test", "platform": "test", "collector_id": cid}
        device = server.api("POST", "/devices", "dispatcher", json=handheld)
        device.raise_for_status()
        server.devices[cid] = device.json()["credential"]
        server.device_ids[cid] = device.json()["device_id"]
        # A few minutes old, so the tests' later fixes are plausible moves for the speed filter.
        server.post_fix(cid, collector["start_lat"], collector["start_lon"], age_s=240)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(start, server.active_collectors()))


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    if not Path(CHROMIUM).exists():
        _skip(f"{CHROMIUM} is not installed (apt-get install chromium; `make test` tries)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip("the playwright package is not installed (requirements-dev.txt)")
    instance = tmp_path_factory.mktemp("web-instance")
    # Live status and progress are judged against the real clock, so "today" is the agency's.
    today = datetime.now(ZoneInfo("America/Lima")).date().isoformat()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "TEST_DATABASE_URL", "REDIS_URL", "TILE_URL"}
    }
    env.update(
        FLASK_APP="server",
        INSTANCE_PATH=str(instance),
        SECRET_KEY="web-test-secret-" + "k" * 32,
        AGENCY_TIMEZONE="America/Lima",
        LOGIN_RATE_LIMIT="1000 per minute",
    )
    _flask(env, "db", "upgrade")
    # The server starts (imports, binds) while the demo is being seeded.
    seeding = subprocess.Popen(
        [FLASK, "seed-demo", "--accounts", DEMO_ACCOUNTS, "--today", today],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (instance / "server.log").open("wb")
    # Served as `make run` serves it: gunicorn, one worker, threads (each SSE client holds one).
    process = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "gunicorn"),
            "--workers=1",
            "--worker-class=gthread",
            "--threads=32",
            "--graceful-timeout=2",
            f"--bind=127.0.0.1:{port}",
            "--access-logfile=-",
            "server:create_app()",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = seeding.communicate(timeout=300)
        if seeding.returncode != 0:
            raise RuntimeError(f"seed-demo failed: {output.decode()[-2000:]}")
        _wait_ready(url, process)
        server = DemoServer(url=url, today=today, instance=instance)
        _field_day(server)
        yield server
    finally:
        if seeding.poll() is None:
            seeding.kill()
            seeding.wait()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def browser(demo_server: DemoServer) -> Iterator[Any]:
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as error:
            _skip(f"Chromium did not start: {error}")
        yield chromium
        chromium.close()


@dataclass
class BrowserPage:
    """A page in a fresh context that records script errors and every off-site request."""

    page: Any
    server: DemoServer
    errors: list[str]
    external_hosts: set[str]

    def login(self, username: str, next_path: str = "/") -> None:
        self.page.goto(f"{self.server.url}/login?next={next_path}")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-submit")
        self.page.wait_for_url(lambda url: "/login" not in url)

    def sign_in_as(self, username: str) -> None:
        """Put the user's token where the login page keeps it (the login itself has a test)."""
        token = self.server.token(username)
        self.page.context.add_init_script(f"sessionStorage.setItem('cobranza.token', '{token}')")

    def open(self, path: str) -> None:
        self.page.goto(self.server.url + path)
        self.page.wait_for_selector("body[data-ready='1']", timeout=30000)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.wait_for_timeout(400)  # let Leaflet's zoom and pan animations finish
        self.page.screenshot(path=str(target), full_page=True)
        return target


@pytest.fixture()
def web(browser: Any, demo_server: DemoServer) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    external: set[str] = set()

    def offline(route: Any) -> None:
        # This machine has no internet: tiles (and anything else off-site) fail fast, as here.
        external.add(urlparse(route.request.url).hostname or "")
        route.abort()

    context.route(lambda url: not url.startswith(demo_server.url), offline)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Refused API calls (403/404 for a collector) and aborted tiles log "Failed to load
    # resource"; those are expected. Anything else on the console is a bug in the page.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield BrowserPage(page, demo_server, errors, external)
    context.close()
