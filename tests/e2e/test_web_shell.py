"""The web app's shell in a real browser: it loads offline from the stack, signs in, shows the
API's errors as their messages, and renders the API documentation at /docs."""
from __future__ import annotations

from tests.e2e.web import PHONE, screenshot, sign_in


def test_the_start_page_loads_with_everything_from_the_stack_itself(browser_page, stack):
    requested: list[str] = []
    browser_page.on("request", lambda request: requested.append(request.url))
    browser_page.goto("/")
    browser_page.get_by_role("heading", name="Welcome to Itinera").wait_for()
    assert requested and all(url.startswith(stack.web_url) for url in requested), requested


def test_a_wrong_password_shows_the_api_message_and_stays_on_sign_in(browser_page):
    browser_page.goto("/#/signin")
    browser_page.get_by_label("Email").fill("traveler@example.com")
    browser_page.get_by_label("Password").fill("not-the-password")
    browser_page.get_by_role("button", name="Sign in").click()
    alert = browser_page.get_by_role("alert")
    alert.wait_for()
    assert "UNAUTHENTICATED" in alert.inner_text()
    assert browser_page.url.endswith("#/signin")


def test_signing_in_shows_the_user_and_their_pages(browser_page):
    sign_in(browser_page, "traveler@example.com")
    browser_page.get_by_role("heading", name="Welcome, ").wait_for()
    assert browser_page.get_by_role("link", name="My bookings").first.is_visible()


def test_an_unknown_page_says_so(browser_page):
    browser_page.goto("/#/no/such/page")
    browser_page.get_by_role("heading", name="Page not found").wait_for()


def test_api_docs_render_the_openapi_document(browser_page, stack):
    browser_page.goto("/docs/")
    browser_page.locator(".swagger-ui .opblock-summary-path", has_text="/holds").first.wait_for()
    assert browser_page.locator(".swagger-ui .opblock").count() > 40
    screenshot(browser_page, "api-docs", full_page=False)


def test_the_shell_fits_a_phone_screen(chromium, stack):
    context = chromium.new_context(base_url=stack.web_url, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto("/")
        page.get_by_role("heading", name="Welcome to Itinera").wait_for()
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


def test_a_malformed_address_is_page_not_found_not_a_blank_page(browser_page):
    browser_page.goto("/#/listings/%E0%A4%A")
    browser_page.get_by_role("heading", name="Page not found").wait_for()


def test_with_the_api_down_a_signed_in_page_says_so_and_offers_to_try_again(chromium):
    from tests.e2e.conftest import free_port
    from tools.web_server import WebServer

    server = WebServer(free_port(), free_port()).start()  # nothing listens on its API port
    context = chromium.new_context(base_url=f"http://127.0.0.1:{server.httpd.server_address[1]}")
    try:
        page = context.new_page()
        page.goto("/")
        page.evaluate("localStorage.setItem('itinera.session', JSON.stringify({id_token: 'x', refresh_token: ''}))")
        page.goto("/#/bookings")
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "BAD_GATEWAY" in alert.inner_text() and "FORBIDDEN" not in alert.inner_text()
        assert page.get_by_role("button", name="Try again").is_visible()
    finally:
        context.close()
        server.stop()
