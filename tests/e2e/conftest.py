"""Browser fixtures: Debian's Chromium driven by Python playwright (never `playwright install`),
headless, against one smsrelay stack on loopback with an incident staged in it."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.harness import build_stack

CHROMIUM = os.environ.get("SMSRELAY_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
USER, PASSWORD = "ops", "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


# Module scope: sync playwright keeps an event loop running in the main thread while it is
# open, which would break every later test that calls asyncio.run().
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from playwright.sync_api import expect

    # Auto-waiting bound, not a timing assertion: a refresh cycle plus a loaded CI machine.
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def dash(db_factory, tmp_path_factory):
    """One stack per module; its admin credentials come from configuration, hashed at start-up,
    and its session secret is created in its own $SMSRELAY_HOME."""
    stack = build_stack(db_factory.clone(), settings_overrides={
        "dashboard_admin_user": USER, "dashboard_admin_password": PASSWORD,
        "smsrelay_home": tmp_path_factory.mktemp("smsrelay-home")})
    yield stack
    stack.stop()


def create_org(stack, name: str, numbers: tuple[str, ...]) -> dict:
    """stack.create_org runs its own event loop, which cannot nest inside playwright's: a thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(stack.create_org, name, numbers).result()


def stage_incident(stack) -> dict:
    """Org "Acme Clinic" hits Twilio's geo permission (21408) and unreachable handsets (30003);
    "Beta Foods" delivers normally; inbound keeps arriving."""
    acme = create_org(stack, "Acme Clinic", ("+15017122661",))
    beta = create_org(stack, "Beta Foods", ("+15017122662",))
    ids: dict[str, list[str]] = {"delivered": [], "failed": [], "undelivered": []}
    with SimulatorClient(stack.sim.url) as sim, stack.client(acme["apiKey"]) as a, stack.client(beta["apiKey"]) as b:
        sim.set_scenario("unreachable", match="UNREACHABLE")
        sim.set_scenario("geo_blocked", match="GEO")
        for i in range(3):
            ids["delivered"].append(b.post("/v1/messages", json={"to": f"+1415555{2700 + i}", "body": "Order ready"}).json()["id"])
            ids["delivered"].append(a.post("/v1/messages", json={"to": f"+1415555{2600 + i}", "body": "See you at 3"}).json()["id"])
        for i in range(2):
            ids["undelivered"].append(a.post("/v1/messages", json={"to": f"+1415555{2800 + i}", "body": "UNREACHABLE"}).json()["id"])
        for i in range(3):
            ids["failed"].append(a.post("/v1/messages", json={"to": f"+4420794{60000 + i}", "body": "GEO"}).json()["id"])
        sim.send_inbound("+14155550123", "+15017122661", "Running late")
    for status, message_ids in ids.items():
        for message_id in message_ids:
            stack.wait_status(message_id, status)
    return {"acme": acme, "beta": beta, "ids": ids}


@pytest.fixture(scope="module")
def incident(dash):
    return stage_incident(dash)


@pytest.fixture
def context(browser, dash):
    ctx = browser.new_context(base_url=dash.api_url, viewport=VIEWPORT)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def log_in(page, user: str = USER, password: str = PASSWORD) -> None:
    page.goto("/dashboard/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def operator_page(page):
    from playwright.sync_api import expect

    log_in(page)
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    return page


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def url_re(path: str) -> re.Pattern:
    return re.compile(re.escape(path) + r"(\?.*)?$")
