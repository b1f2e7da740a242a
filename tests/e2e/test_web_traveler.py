"""The traveler's booking flow in a real browser: search (with the places combobox), a listing's
calendar, the trip, one hold for a flight and a hotel, paying with a test token, the page
following CONFIRMING to CONFIRMED by itself, and cancelling after the refund quote. Each step is
checked against the API's own state of the booking."""
from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from playwright.sync_api import expect

from tests.e2e.web import PHONE, api_token, booking_id_from_url, screenshot, sign_in, watched_page

PASSWORD = "Fresh-Pass-123"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _search(stack, **query) -> list[dict]:
    answer = stack.http.get(stack.url("/search"), params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def _booking(stack, page, booking_id: str) -> dict:
    answer = stack.http.get(stack.url(f"/bookings/{booking_id}"),
                            headers={"Authorization": f"Bearer {api_token(page)}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _signed_in_traveler(stack, page, label: str, name: str) -> str:
    """A new traveler, signed up through the API and signed in on the page; returns the email."""
    email = f"web-{label}-{uuid.uuid4().hex[:10]}@example.com"
    created = stack.http.post(stack.url("/auth/signup"), json={"email": email, "password": PASSWORD, "name": name},
                              timeout=10)
    assert created.status_code == 201, created.text
    sign_in(page, email, PASSWORD)
    return email


def _paris_event(stack, days_ahead: int) -> tuple[dict, str]:
    """A Paris event of the demo catalog on sale that day, and the day."""
    day = (date.today() + timedelta(days=days_ahead)).isoformat()
    events = _search(stack, kind="event", city="PAR", date=day, quantity=1)
    assert events, f"the demo catalog sells Paris events on {day}"
    return events[0], day


def _hold(stack, page, email: str, name: str, event: dict, day: str) -> str:
    """One unit of the event held through the API with the page's token; returns the booking id."""
    hold = stack.http.post(stack.url("/holds"), headers={"Authorization": f"Bearer {api_token(page)}",
                                                         "Idempotency-Key": uuid.uuid4().hex},
                           json={"items": [{"listing_id": event["listing_id"], "quantity": 1, "date": day}],
                                 "contact": {"email": email, "name": name}}, timeout=10)
    assert hold.status_code == 201, hold.text
    return hold.json()["booking_id"]


def _pick_place(page, label: str, typed: str, option: str, *, keyboard: bool = False) -> None:
    box = page.get_by_role("combobox", name=label)
    box.fill(typed)
    listbox = page.get_by_role("listbox", name=f"{label} suggestions")
    listbox.get_by_role("option").first.wait_for()
    expect(box).to_have_attribute("aria-expanded", "true")
    if keyboard:  # the first option is the wanted one: arrows and Enter pick it
        box.press("ArrowDown")
        expect(box).to_have_attribute("aria-activedescendant", re.compile(".+"))
        box.press("Enter")
    else:
        listbox.get_by_role("option", name=option).click()
    expect(box).to_have_attribute("aria-expanded", "false")


def test_a_new_traveler_books_a_flight_and_a_hotel_pays_and_cancels(browser_page, stack):
    page = browser_page
    day = (date.today() + timedelta(days=30)).isoformat()
    check_out = (date.today() + timedelta(days=32)).isoformat()
    # What the seeded catalog has on those dates, from the API itself.
    flights = _search(stack, kind="flight", origin="PAR", destination="LIS", date=day, quantity=1)
    hotels = _search(stack, kind="hotel", city="LIS", check_in=day, check_out=check_out, quantity=1)
    assert flights and hotels

    # A fresh traveler signs up through the page and lands on the search.
    page.goto("/#/signup")
    page.get_by_label("Name").fill("Wanda Web")
    page.get_by_label("Email").fill(f"web-traveler-{uuid.uuid4().hex[:10]}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Search", exact=True).wait_for()

    # The flight: the kind changes the fields; places come from the combobox.
    page.get_by_label("What").select_option("flight")
    _pick_place(page, "From", "par", "Paris (PAR)", keyboard=True)
    expect(page.get_by_role("combobox", name="From")).to_have_value("PAR")
    _pick_place(page, "To", "lisb", "Lisbon (LIS)")
    page.get_by_label("Date").fill(day)
    # A max price that is no amount is a field error on the form, and nothing is searched.
    page.get_by_label("Max total price").fill("12.5.0")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("alert").filter(has_text="Enter an amount like 12.50").wait_for()
    expect(page.get_by_label("Max total price")).to_have_attribute("aria-invalid", "true")
    assert "origin=" not in page.url
    page.get_by_label("Max total price").fill("")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("li.card")
    expect(results.first).to_contain_text(flights[0]["title"])
    assert "kind=flight" in page.url and "origin=PAR" in page.url and "destination=LIS" in page.url
    expect(results).to_have_count(min(len(flights), 10))
    assert _digits(results.first.locator(".price").inner_text()) == str(flights[0]["price_total"]["amount"])
    screenshot(page, "traveler-search")
    results.first.get_by_role("button", name="Add to trip").click()
    expect(results.first.get_by_role("status")).to_contain_text("1 item")

    # The hotel: from its listing page, dates and quantity carried along from the results.
    page.get_by_label("What").select_option("hotel")
    _pick_place(page, "City", "lis", "Lisbon (LIS)")
    page.get_by_label("Check-in").fill(day)
    page.get_by_label("Check-out").fill(check_out)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(results.first).to_contain_text(hotels[0]["title"])
    results.first.get_by_role("link", name=hotels[0]["title"], exact=True).click()
    page.get_by_role("heading", name=hotels[0]["title"], level=1).wait_for()
    expect(page.get_by_label("Check-in")).to_have_value(day)
    expect(page.get_by_label("Check-out")).to_have_value(check_out)
    page.locator(".calendar button.day").first.wait_for()
    expect(page.locator(f'.calendar button.day[data-date="{day}"]')).to_have_attribute("aria-pressed", "true")
    quote = page.locator("main .card .price").first
    expect(quote).to_be_visible()
    assert _digits(quote.inner_text()) == str(hotels[0]["price_total"]["amount"])
    screenshot(page, "traveler-listing")
    page.get_by_role("button", name="Add to trip").click()
    page.get_by_role("link", name="view your trip").click()

    # The trip: both items, the contact prefilled from /me; one hold for both.
    page.get_by_role("heading", name="Your trip").wait_for()
    expect(page.locator("main tbody tr")).to_have_count(2)
    expect(page.get_by_label("Name")).to_have_value("Wanda Web")
    screenshot(page, "traveler-trip")
    page.get_by_role("button", name="Hold trip").click()
    page.wait_for_url(re.compile(r"#/bookings/bk_"))
    booking_id = booking_id_from_url(page)
    timer = page.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^1?\d:\d\d left$"))
    held = _booking(stack, page, booking_id)
    assert held["status"] == "HELD"
    assert sorted(item["kind"] for item in held["items"]) == ["flight", "hotel"]
    expect(page.locator(".reference")).to_have_text(held["reference"])
    screenshot(page, "traveler-booking-held")
    page.goto("/#/trip")
    page.get_by_text("Your trip is empty").wait_for()  # the cart was cleared by the hold
    page.go_back()

    # Pay with an accepted test card: the page follows CONFIRMING to CONFIRMED without a reload.
    page.get_by_label("Visa card that is accepted").check()
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Pay").click()
    expect(page.locator(".booking-status")).to_contain_text("CONFIRMED", timeout=20_000)
    assert page.evaluate("window.__sameDocument === true")
    confirmed = _booking(stack, page, booking_id)
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["captured_amount"] == confirmed["amount"]
    expect(page.get_by_role("timer")).to_have_count(0)
    expect(page.get_by_role("button", name="Pay")).to_have_count(0)
    screenshot(page, "traveler-booking-confirmed")

    # Cancel: first the quote (a full refund 30 days ahead), then the confirmation.
    page.get_by_role("button", name="Cancel booking…").click()
    page.get_by_role("heading", name="Cancellation quote").wait_for()
    quoted = stack.http.get(stack.url(f"/bookings/{booking_id}/cancellation-quote"),
                            headers={"Authorization": f"Bearer {api_token(page)}"}, timeout=10).json()
    assert quoted["refund"] == confirmed["captured_amount"]
    assert _digits(page.locator(".refund").inner_text()) == str(quoted["refund"]["amount"])
    screenshot(page, "traveler-cancel-quote")
    page.get_by_role("button", name="Confirm cancellation").click()
    expect(page.locator(".booking-status")).to_contain_text("CANCELLED", timeout=20_000)
    cancelled = _booking(stack, page, booking_id)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["refunded_amount"] == confirmed["captured_amount"]
    expect(page.locator("ol.timeline")).to_contain_text("CANCELLED")

    # The booking is listed among the traveler's bookings and filters by status.
    page.get_by_role("link", name="My bookings").first.click()
    page.get_by_role("link", name=f"Booking {held['reference']}").wait_for()
    page.get_by_label("Status").select_option("CONFIRMED")
    page.get_by_text("No confirmed bookings.").wait_for()


def test_a_declined_card_shows_the_decline_and_the_hold_stays(browser_page, stack):
    page = browser_page
    email = _signed_in_traveler(stack, page, "declined", "Dee")
    event, day = _paris_event(stack, 20)
    booking_id = _hold(stack, page, email, "Dee", event, day)

    page.set_viewport_size(PHONE)
    page.goto(f"/#/bookings/{booking_id}")
    page.get_by_role("timer").wait_for()
    page.get_by_label("Card that is declined").check()
    page.get_by_role("button", name="Pay").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("PAYMENT_DECLINED")
    expect(alert).to_contain_text("declined")
    # The form stays for another card, the booking stays held.
    expect(page.get_by_role("button", name="Pay")).to_be_enabled()
    expect(page.locator(".booking-status")).to_contain_text("HELD")
    assert _booking(stack, page, booking_id)["status"] == "HELD"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # While a booking settles the page reads it again every 1.5 s; a read that changes nothing
    # leaves the page (and the keyboard focus) alone. The API's answer is made to say CONFIRMING.
    def confirming(route):
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "status": "CONFIRMING", "available_actions": []})

    path = f"**/api/bookings/{booking_id}"
    page.route(path, confirming)
    page.reload()
    expect(page.locator(".booking-status")).to_contain_text("CONFIRMING")
    help_link = page.get_by_role("link", name="Ask for help with this booking")
    help_link.focus()
    for _ in range(2):
        with page.expect_response(lambda response: response.url.endswith(f"/api/bookings/{booking_id}")):
            pass
    expect(help_link).to_be_focused()
    page.unroute(path)
    page.goto("/#/bookings")


def test_a_broken_saved_trip_is_repaired_and_a_replayed_old_hold_keeps_the_trip(browser_page, stack):
    page = browser_page
    _signed_in_traveler(stack, page, "trip", "Tia")
    event, day = _paris_event(stack, 21)
    # What an old version or a hand edit may have left: unreadable items, and a price in no currency.
    stored = [None, "x", {"listing_id": "lst_x", "title": "T", "kind": "event", "quantity": 1, "date": 20270101},
              {"listing_id": event["listing_id"], "title": event["title"], "kind": "event", "quantity": 1,
               "date": day, "price_total": {"amount": 100, "currency": "EURO"}}]
    page.evaluate("trip => localStorage.setItem('itinera.trip', JSON.stringify(trip))", stored)
    page.goto("/#/trip")
    page.get_by_text("3 items of your trip could not be read and were removed.").wait_for()
    expect(page.locator("main tbody tr")).to_have_count(1)
    expect(page.locator("main tbody tr .price")).to_have_text("—")

    # The hold's answer is the replay of an earlier attempt whose hold is over: the page says so
    # and keeps the trip (holding again makes a new hold).
    def expired(route):
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "status": "EXPIRED"})

    page.route("**/api/holds", expired)
    page.get_by_role("button", name="Hold trip").click()
    expect(page.get_by_role("alert")).to_contain_text("which is now EXPIRED")
    expect(page.locator("main tbody tr")).to_have_count(1)
    assert page.evaluate("localStorage.getItem('itinera.trip.pending')") is None
    page.get_by_role("button", name="Clear trip").click()
    page.get_by_text("Your trip is empty").wait_for()


def test_the_hold_countdown_follows_the_service_clock_when_the_browser_clock_is_ahead(browser_page, stack):
    page = browser_page
    # This browser's clock runs 16 minutes ahead: past the hold's 15 minutes.
    page.add_init_script("(() => { const real = Date.now.bind(Date); Date.now = () => real() + 16 * 60 * 1000; })()")
    email = _signed_in_traveler(stack, page, "skew", "Sam")
    event, day = _paris_event(stack, 21)
    page.goto(f"/#/bookings/{_hold(stack, page, email, 'Sam', event, day)}")
    timer = page.get_by_role("timer")
    timer.wait_for()
    minutes = int(re.match(r"(\d+):\d\d left", timer.inner_text()).group(1))
    assert minutes >= 13, timer.inner_text()
    expect(page.locator(".booking-status")).to_contain_text("HELD")


def test_a_promotion_code_at_checkout_discounts_the_hold_and_a_wrong_one_keeps_the_trip(browser_page, stack):
    page = browser_page
    vendor = stack.auth("vendor@example.com")
    day = (date.today() + timedelta(days=24)).isoformat()
    events = [r for r in _search(stack, kind="event", city="PAR", date=day, quantity=1) if r["vendor_id"] == "ven_aurora"]
    assert events, "the demo catalog sells ven_aurora's events in Paris"
    event = events[0]
    code = f"WEB{uuid.uuid4().hex[:8].upper()}"
    start = date.today().isoformat()
    created = stack.http.post(stack.url("/vendor/promotions"), headers=vendor, timeout=10, json={
        "code": code, "percent_off": 10, "listing_id": event["listing_id"], "valid_from": f"{start}T00:00:00Z",
        "valid_to": f"{(date.today() + timedelta(days=60)).isoformat()}T00:00:00Z",
        "max_uses": 5, "max_uses_per_traveler": 1})
    assert created.status_code == 201, created.text
    _signed_in_traveler(stack, page, "promo", "Pat")

    page.goto(f"/#/listings/{event['listing_id']}?date={day}&quantity=1")
    page.get_by_role("button", name="Add to trip").click()
    page.get_by_role("link", name="view your trip").click()
    page.get_by_label("Promo code (optional)").fill("NOT-A-CODE")
    page.get_by_role("button", name="Hold trip").click()
    expect(page.get_by_role("alert")).to_contain_text("PROMO_INVALID")
    expect(page.locator("main tbody tr")).to_have_count(1)  # the trip is kept

    page.get_by_label("Promo code (optional)").fill(code.lower())
    page.get_by_role("button", name="Hold trip").click()
    page.wait_for_url(re.compile(r"#/bookings/bk_"))
    expect(page.get_by_text(f"Discount ({code})")).to_be_visible()
    held = _booking(stack, page, booking_id_from_url(page))
    full = event["price_total"]["amount"]
    assert held["discount"]["code"] == code
    off = held["discount"]["amount"]["amount"]
    assert full // 10 <= off <= -(-full // 10)  # 10 %, rounded to a minor unit
    assert held["amount"]["amount"] == full - off


def test_a_payment_retried_after_a_lost_answer_is_one_payment(chromium, stack):
    context, page, problems = watched_page(chromium, stack.web_url)
    try:
        _pay_after_a_lost_answer(stack, page)
    finally:
        context.close()
    # The aborted answer is the one failure the browser may report.
    assert [p for p in problems if "net::ERR_FAILED" not in p] == [], problems


def _pay_after_a_lost_answer(stack, page) -> None:
    email = _signed_in_traveler(stack, page, "lost", "Lou")
    event, day = _paris_event(stack, 22)
    booking_id = _hold(stack, page, email, "Lou", event, day)
    page.goto(f"/#/bookings/{booking_id}")
    page.get_by_role("timer").wait_for()

    # The first payment reaches the API, and its answer is lost on the way back.
    keys: list[str] = []

    def lost(route):
        keys.append(route.request.headers["idempotency-key"])
        route.fetch()
        route.abort()

    path = f"**/api/bookings/{booking_id}/payment"
    page.route(path, lost)
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_role("alert")).to_contain_text("NETWORK_ERROR")
    page.unroute(path)
    page.on("request", lambda request: keys.append(request.headers["idempotency-key"])
            if request.url.endswith("/payment") else None)
    page.get_by_role("button", name="Pay").click()
    expect(page.locator(".booking-status")).to_contain_text("CONFIRMED", timeout=30_000)

    # The retry carried the same key: the API answered it from the first attempt.
    assert len(keys) == 2 and keys[0] == keys[1], keys
    booking = _booking(stack, page, booking_id)
    authorized = [e for e in booking["timeline"] if "authorized" in str(e.get("event", ""))]
    assert len(authorized) == 1, booking["timeline"]
    assert booking["captured_amount"] == booking["amount"]
