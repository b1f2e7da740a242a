"""Browser tests drive the web app of the local stack in a real headless Chromium.

Debian's `chromium` (the Makefile installs it when missing) driven by Playwright for Python
with its executable path set: Playwright's own browser download does not work here. Pages are
checked against the API's state, and each test saves screenshots of what it saw under
build/screenshots (the README shows copies from docs/screenshots).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from tests.e2e.conftest import DEMO_PASSWORD, ROOT

CHROMIUM = os.environ.get("ITINERA_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
# As root in a container, without a sandbox; no background connections (this machine's network
# is closed and Chromium would retry them), no GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def watched_page(browser, base_url: str, viewport: dict[str, int] = DESKTOP):
    """A fresh context (no cookies or storage) and page on the web app, and the list that
    collects its problems: page errors, console errors and 5xx answers. A test asserts the
    list is empty at the end: a page must never break silently."""
    context = browser.new_context(base_url=base_url, viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and "the server responded with a status of 4" not in message.text else None)
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 500 else None)
    return context, page, problems


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Saves what the page shows now as build/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Signs in through the sign-in page and waits until the app knows who it is."""
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def api_token(page) -> str:
    """The signed-in page's ID token, for checking its work against the API."""
    return page.evaluate("JSON.parse(localStorage.getItem('itinera.session')).id_token")


def booking_id_from_url(page) -> str:
    match = re.search(r"#/bookings/([^/?]+)", page.url)
    assert match, page.url
    return match.group(1)


AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


def accessibility_violations(page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's WCAG 2 A/AA checks (labels, names, contrast, landmarks...) on the page as it is
    now; the violations of the given impacts, one line each. The context must bypass the CSP
    (axe is injected as a script of the page)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in result if v["impact"] in impacts]
