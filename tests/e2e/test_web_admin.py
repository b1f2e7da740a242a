"""An administrator creates a vendor in the browser; the vendor's first sign-in asks for a new
password, then opens the vendor console."""
from __future__ import annotations

import re
import uuid

from tests.e2e.web import screenshot, sign_in


def test_an_admin_creates_a_vendor_who_chooses_a_password_at_first_sign_in(browser_page, chromium, stack):
    email = f"web-vendor-{uuid.uuid4().hex[:8]}@example.com"
    sign_in(browser_page, "admin@example.com")
    browser_page.get_by_role("link", name="Vendors", exact=True).click()
    browser_page.get_by_label("Vendor name").fill("Harbour Tours")
    browser_page.get_by_label("Sign-in email").fill(email)
    browser_page.get_by_role("button", name="Create vendor").click()
    created = browser_page.get_by_role("status").filter(has_text="Temporary password")
    created.wait_for()
    temporary = re.search(r"Temporary password: (\S+) ", created.inner_text()).group(1)
    browser_page.get_by_role("cell", name=email).wait_for()
    screenshot(browser_page, "admin-vendors")

    listed = stack.http.get(stack.url("/admin/vendors"), params={"limit": 100},
                            headers=stack.auth("admin@example.com"), timeout=10).json()["vendors"]
    vendor = next(v for v in listed if v["email"] == email)
    assert vendor["name"] == "Harbour Tours"

    context = chromium.new_context(base_url=stack.web_url)
    try:
        page = context.new_page()
        page.goto("/#/signin")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(temporary)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Choose your password").wait_for()
        page.get_by_label("New password").fill("Harbour-Tours-1")
        page.get_by_role("button", name="Set password and sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()
        page.get_by_role("link", name="Listings").click()
        page.get_by_role("heading", name=re.compile("listings", re.I)).first.wait_for()
    finally:
        context.close()
    # The new password is the vendor's now; the vendor's token carries its vendor id.
    me = stack.http.get(stack.url("/me"), headers=stack.auth(email, "Harbour-Tours-1"), timeout=10).json()
    assert me["vendor_id"] == vendor["vendor_id"] and "vendors" in me["roles"]
