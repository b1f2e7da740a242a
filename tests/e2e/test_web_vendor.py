"""The vendor console in a real browser (issue 14): listings, the availability and price calendar
with its occupancy picture, bookings, promotions and the webhook. The main journey is the
issue's: a vendor raises capacity and a waitlisted traveler gets the hold."""
from __future__ import annotations

import datetime as dt
import re
import time
import uuid

from tests.e2e.web import PHONE, screenshot, sign_in, watched_page

VENDOR = "vendor@example.com"


def day(offset: int) -> str:
    return (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=offset)).isoformat()


def create_listing(stack, vendor_auth, title: str) -> str:
    created = stack.http.post(stack.url("/vendor/listings"), headers=vendor_auth, json={
        "kind": "event", "title": title, "description": "A concert for the vendor console test.",
        "currency": "EUR", "city": "PAR", "attributes": {"starts_at": "20:00"},
        "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 50}}, timeout=10)
    assert created.status_code == 201, created.text
    return created.json()["listing_id"]


def set_availability(stack, vendor_auth, listing_id: str, first: str, last: str, capacity: int, price: int) -> None:
    response = stack.http.put(stack.url(f"/vendor/listings/{listing_id}/availability"), headers=vendor_auth,
                              json={"from": first, "to": last, "capacity": capacity, "price": price}, timeout=10)
    assert response.status_code == 200, response.text


def availability(stack, listing_id: str, date: str) -> dict:
    response = stack.http.get(stack.url(f"/listings/{listing_id}/availability"),
                              params={"from": date, "to": date}, timeout=10)
    assert response.status_code == 200, response.text
    (found,) = response.json()["days"]
    return found


def hold(stack, traveler, listing_id: str, date: str) -> dict:
    response = stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, json={
        "items": [{"listing_id": listing_id, "quantity": 1, "date": date}],
        "contact": {"email": "first@example.com", "name": "First Traveler"}}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def bar(page, date: str):
    return page.locator(f'svg.occupancy-chart [role="img"][data-date="{date}"]')


def open_calendar(page, listing_id: str, date: str) -> None:
    page.goto(f"/#/vendor/listings/{listing_id}?month={date[:7]}")
    page.get_by_role("heading", name="Availability and prices").wait_for()
    bar(page, date).wait_for()


def set_capacity_in_form(page, date: str, capacity: int, price: str) -> None:
    page.get_by_label("From", exact=True).fill(date)
    page.get_by_label("To", exact=True).fill(date)
    page.get_by_label("Capacity", exact=True).fill(str(capacity))
    page.get_by_label("Price per unit (EUR)").fill(price)
    page.get_by_role("button", name="Set availability").click()


def test_a_vendor_raises_capacity_and_the_waitlisted_traveler_gets_the_hold(browser_page, stack):
    page = browser_page
    vendor = stack.auth(VENDOR)
    title = f"Sold-out concert {uuid.uuid4().hex[:6]}"
    listing_id = create_listing(stack, vendor, title)
    date = day(40)
    set_availability(stack, vendor, listing_id, date, date, 1, 4500)
    set_availability(stack, vendor, listing_id, day(41), day(41), 3, 4500)
    first = stack.new_traveler("first")
    held = hold(stack, first, listing_id, date)
    assert availability(stack, listing_id, date)["available"] == 0
    second = stack.new_traveler("second")
    joined = stack.http.post(stack.url(f"/listings/{listing_id}/waitlist"), headers=second,
                             json={"date": date, "quantity": 1}, timeout=10)
    assert joined.status_code in (200, 201), joined.text
    assert joined.json()["status"] == "WAITING"

    sign_in(page, VENDOR)
    page.get_by_role("link", name="Listings", exact=True).click()
    page.get_by_role("heading", name="Your listings").wait_for()
    page.locator(".list > li").first.wait_for()
    screenshot(page, "vendor-listings")

    open_calendar(page, listing_id, date)
    page.get_by_role("heading", name=title).wait_for()
    full_bar = bar(page, date)
    assert full_bar.get_attribute("data-full") == "true"
    assert re.search(r": full, 1 of 1 booked", full_bar.get_attribute("aria-label")), full_bar.get_attribute("aria-label")
    assert "1 full" in page.locator(".occupancy-summary").inner_text()

    set_capacity_in_form(page, date, 2, "45.00")
    page.get_by_text("Saved 1 date: capacity 2").wait_for()
    # The picture reloads from the API: the date has room again (unless the waitlist already took it).
    page.wait_for_function(
        "date => document.querySelector(`svg.occupancy-chart [data-date='${date}']`)?.dataset.capacity === '2'", arg=date)
    assert availability(stack, listing_id, date)["capacity"] == 2
    screenshot(page, "vendor-calendar")

    # The stack's workers turn the freed unit into a hold for the waitlisted traveler.
    deadline = time.monotonic() + 60
    entry = None
    while time.monotonic() < deadline:
        entries = stack.http.get(stack.url("/me/waitlist"), headers=second, timeout=10).json()["entries"]
        entry = next(item for item in entries if item["listing_id"] == listing_id)
        if entry["status"] == "OFFERED":
            break
        time.sleep(1)
    assert entry and entry["status"] == "OFFERED" and entry["booking_id"], entry
    bookings = stack.http.get(stack.url("/me/bookings"), headers=second, params={"status": "HELD"}, timeout=10).json()["bookings"]
    offered = next(booking for booking in bookings if booking["booking_id"] == entry["booking_id"])
    assert offered["status"] == "HELD" and offered["items"][0]["listing_id"] == listing_id
    assert availability(stack, listing_id, date)["available"] == 0

    # The picture shows the date full again at its new capacity; the bookings page lists both holds.
    page.get_by_role("button", name="Next month").click()
    page.get_by_role("button", name="Previous month").click()
    page.wait_for_function(
        "date => document.querySelector(`svg.occupancy-chart [data-date='${date}']`)?.dataset.booked === '2'", arg=date)
    page.get_by_role("link", name="Bookings", exact=True).click()
    page.get_by_label("First date from").fill(date)
    page.get_by_label("First date to").fill(date)
    page.get_by_label("Status").select_option("HELD")
    page.get_by_role("button", name="Show bookings").click()
    table = page.locator(".table-wrap table")
    table.get_by_text(held["reference"]).wait_for()
    table.get_by_text(offered["reference"]).wait_for()


def test_lowering_capacity_below_held_units_is_refused_and_changes_nothing(browser_page, stack):
    page = browser_page
    sign_in(page, VENDOR)
    page.goto("/#/vendor")
    page.get_by_role("button", name="New listing").click()
    title = f"Harbour tour {uuid.uuid4().hex[:6]}"
    page.get_by_label("Kind").select_option("service")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("Two hours on the river.")
    page.get_by_label("City").fill("LIS")
    page.get_by_label("Meeting point").fill("Cais do Sodré")
    page.get_by_label("Free cancellation until (hours before)").fill("24")
    page.get_by_label("Refund after that (%)").fill("20")
    page.get_by_role("button", name="Create listing").click()
    page.get_by_role("heading", name=title).wait_for()
    listing_id = re.search(r"#/vendor/listings/([^/?]+)", page.url).group(1)
    listing = stack.http.get(stack.url(f"/listings/{listing_id}"), timeout=10).json()
    assert listing["kind"] == "service" and listing["city"] == "LIS"
    assert listing["cancellation_policy"] == {"free_until_hours": 24, "refund_percent_after": 20}
    assert listing["attributes"] == {"meeting_point": "Cais do Sodré"}

    date = day(50)
    page.goto(f"/#/vendor/listings/{listing_id}?month={date[:7]}")
    page.get_by_role("heading", name="Availability and prices").wait_for()
    set_capacity_in_form(page, date, 2, "30")
    page.wait_for_function(
        "date => document.querySelector(`svg.occupancy-chart [data-date='${date}']`)?.dataset.capacity === '2'", arg=date)
    assert availability(stack, listing_id, date) == {
        "date": date, "capacity": 2, "available": 2, "price": {"amount": 3000, "currency": "EUR"}}
    traveler = stack.new_traveler("holder")
    hold(stack, traveler, listing_id, date)
    hold(stack, traveler, listing_id, date)

    set_capacity_in_form(page, date, 1, "25")
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert "CAPACITY_BELOW_COMMITTED" in text and date in text and "2 held or sold" in text, text
    assert availability(stack, listing_id, date) == {
        "date": date, "capacity": 2, "available": 0, "price": {"amount": 3000, "currency": "EUR"}}


def test_the_vendor_sets_a_webhook_sees_its_secret_once_and_creates_a_promotion(chromium, stack):
    context, page, problems = watched_page(chromium, stack.web_url, PHONE)
    try:
        vendor = stack.auth("vendor2@example.com")
        stack.http.delete(stack.url("/vendor/webhook"), headers=vendor, timeout=10)
        sign_in(page, "vendor2@example.com")
        page.goto("/#/vendor/webhook")
        page.get_by_text("No webhook is set up yet.").wait_for()
        page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/itinera-events")
        page.get_by_role("button", name="Set webhook URL").click()
        secret = page.locator(".webhook-secret")
        secret.wait_for()
        first_secret = secret.inner_text()
        assert first_secret.startswith("whsec_")
        hook = stack.http.get(stack.url("/vendor/webhook"), headers=vendor, timeout=10).json()
        assert hook["url"] == "http://127.0.0.1:9/itinera-events"
        page.get_by_role("button", name="Rotate secret").click()
        page.wait_for_function("old => document.querySelector('.webhook-secret')?.textContent !== old", arg=first_secret)
        assert page.locator(".webhook-secret").inner_text().startswith("whsec_")
        page.get_by_role("button", name="Replay").click()
        page.get_by_text("Replay accepted").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "vendor-webhook")
        page.get_by_role("button", name="Remove webhook").click()
        page.get_by_role("button", name="Yes, remove it").click()
        page.get_by_text("No webhook is set up yet.").wait_for()
        assert stack.http.get(stack.url("/vendor/webhook"), headers=vendor, timeout=10).status_code == 404

        code = f"VC{uuid.uuid4().hex[:8].upper()}"
        page.goto("/#/vendor/promotions")
        page.get_by_label("Code").fill(code)
        page.get_by_label("Discount").select_option("amount")
        page.get_by_label("Amount off").fill("12.50")
        page.get_by_label("Applies to").select_option("kind")
        page.get_by_label("Kind").select_option("hotel")
        page.get_by_role("button", name="Create promotion").click()
        page.get_by_text(f"Promotion {code} created.").wait_for()
        page.locator(".table-wrap").get_by_text(code).wait_for()
        promotions = stack.http.get(stack.url("/vendor/promotions"), headers=vendor, params={"limit": 100}, timeout=10).json()
        created = next(item for item in promotions["promotions"] if item["code"] == code)
        assert created["amount_off"] == 1250 and created["kind"] == "hotel" and not created.get("percent_off")
    finally:
        context.close()
    assert not problems, problems
