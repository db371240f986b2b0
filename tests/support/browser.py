"""The dashboard in a browser: Debian's Chromium driven by Python playwright (never `playwright
install`), the operator's credentials, an incident staged through the API and the simulator,
and the page helpers the browser tests share."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.incident import stage_geo_and_unreachable

CHROMIUM = os.environ.get("SMSRELAY_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
USER, PASSWORD = "ops", "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


def create_org(stack, name: str, numbers: tuple[str, ...]) -> dict:
    """stack.create_org runs its own event loop, which cannot nest inside playwright's: a thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(stack.create_org, name, numbers).result()


def stage_incident(stack) -> dict:
    """Org "Acme Clinic" hits Twilio's geo permission (21408) and unreachable handsets (30003);
    "Beta Foods" delivers normally; inbound keeps arriving."""
    acme = create_org(stack, "Acme Clinic", ("+15017122661",))
    beta = create_org(stack, "Beta Foods", ("+15017122662",))
    ids = stage_geo_and_unreachable(stack, acme, beta, geo_to=[f"+4420794{60000 + i}" for i in range(3)],
                                    bodies=("See you at 3", "Order ready"),
                                    inbound=("+14155550123", "+15017122661", "Running late"))
    return {"acme": acme, "beta": beta, "ids": ids}


def log_in(page, user: str = USER, password: str = PASSWORD) -> None:
    page.goto("/dashboard/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def screenshot_dir(tmp: Path) -> Path:
    """docs/screenshots (tracked, shown in the README) only when asked with
    SMSRELAY_SCREENSHOTS=1; otherwise `tmp`, so that a test run leaves the tree as it was."""
    return SCREENSHOTS if os.environ.get("SMSRELAY_SCREENSHOTS") == "1" else tmp


def screenshot(page, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return path


def url_re(path: str) -> re.Pattern:
    return re.compile(re.escape(path) + r"(\?.*)?$")
