"""Every main page of the web app passes axe-core's WCAG 2.1 A/AA checks (no serious or critical
violation: labels, accessible names, contrast, landmarks) and is usable with the keyboard alone."""
from __future__ import annotations

import pytest

from tests.e2e.web import DESKTOP, PHONE, accessibility_violations, sign_in

PAGES = {
    None: ["/", "/#/signin", "/#/signup", "/#/search", "/#/help"],
    "traveler@example.com": ["/#/search?kind=hotel", "/#/bookings", "/#/trip", "/#/waitlist", "/#/for-you", "/#/help"],
    "agent@example.com": ["/#/agent", "/#/agent/cases"],
    "vendor@example.com": ["/#/vendor", "/#/vendor/bookings", "/#/vendor/promotions", "/#/vendor/webhook"],
    "admin@example.com": ["/#/admin"],
}


@pytest.fixture
def checked_page(chromium, stack, request):
    viewport = getattr(request, "param", DESKTOP)
    context = chromium.new_context(base_url=stack.web_url, viewport=viewport, bypass_csp=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


# Every user's pages on a desktop; travelers' (and visitors') on a phone too, where they book.
# (Staff pages at phone width: tests/e2e/test_web_vendor.py runs one journey there.)
CASES = [(user, DESKTOP) for user in PAGES] + [(None, PHONE), ("traveler@example.com", PHONE)]


@pytest.mark.parametrize("user,checked_page", CASES, indirect=["checked_page"],
                         ids=[f"{(user or 'anonymous').split('@')[0]}-{'phone' if size is PHONE else 'desktop'}"
                              for user, size in CASES])
def test_main_pages_have_no_serious_accessibility_violation(checked_page, user):
    if user:
        sign_in(checked_page, user)
    found = {}
    for path in PAGES[user]:
        checked_page.goto(path)
        checked_page.locator("main h1").first.wait_for()
        checked_page.wait_for_load_state("networkidle")
        violations = accessibility_violations(checked_page)
        if violations:
            found[path] = violations
    assert not found, found


def test_signing_in_works_with_the_keyboard_alone(checked_page):
    checked_page.goto("/#/signin")
    checked_page.get_by_label("Email").wait_for()
    # A new page focuses its heading, so the next Tab reaches the page's first field.
    assert checked_page.evaluate("document.activeElement.tagName") == "H1"
    checked_page.keyboard.press("Tab")
    assert checked_page.evaluate("document.activeElement.name") == "email"
    checked_page.keyboard.type("traveler@example.com")
    checked_page.keyboard.press("Tab")
    checked_page.keyboard.type("Itinera-demo-1")
    checked_page.keyboard.press("Enter")
    checked_page.get_by_role("button", name="Sign out").wait_for()
