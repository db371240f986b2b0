"""Browser fixtures: Debian's Chromium driven by Python playwright (never `playwright install`),
headless, against one smsrelay stack on loopback with an incident staged in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.browser import (ARGS, CHROMIUM, PASSWORD, USER, VIEWPORT, log_in, screenshot_dir,
                                   stage_incident)
from tests.support.browser import screenshot as take_screenshot
from tests.support.stack import build_stack


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


@pytest.fixture
def operator_page(page):
    from playwright.sync_api import expect

    log_in(page)
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    return page


@pytest.fixture(scope="module")
def screenshot_into(tmp_path_factory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def screenshot(screenshot_into):
    """`screenshot(page, name)`: a PNG of the page, checked to exist (see screenshot_dir)."""
    return lambda page, name: take_screenshot(page, screenshot_into, name)
