"""The traveler's extras in a real browser: help (FAQ and support cases with an agent's answer),
the waitlist of a sold-out date, and recommendations; every result checked against the API."""
from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

from tests.e2e.web import screenshot, sign_in

PASSWORD = "Fresh-Pass-123"


def fresh_traveler(stack, label: str) -> tuple[str, dict[str, str]]:
    """A new traveler the browser can sign in as: (email, auth header)."""
    email = f"{label}-{uuid.uuid4().hex[:10]}@example.com"
    created = stack.http.post(stack.url("/auth/signup"), json={"email": email, "password": PASSWORD,
                                                               "name": label.title()}, timeout=10)
    assert created.status_code == 201, created.text
    return email, stack.auth(email, PASSWORD)


def event_dates(stack, listing_id: str, start: int, days: int) -> list[dict]:
    """The days a listing is on sale from `start` days ahead, with their counters."""
    first = date.today() + timedelta(days=start)
    answer = stack.http.get(stack.url(f"/listings/{listing_id}/availability"),
                            params={"from": first.isoformat(), "to": (first + timedelta(days=days)).isoformat()},
                            timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["days"]


def paris_events(stack) -> list[dict]:
    """Event listings in Paris that vendor@example.com sells (the demo catalog's)."""
    auth = stack.auth("vendor@example.com")
    listings = stack.http.get(stack.url("/vendor/listings"), headers=auth, params={"limit": 100}, timeout=10)
    assert listings.status_code == 200, listings.text
    found = [item for item in listings.json()["listings"] if item["kind"] == "event" and item.get("city") == "PAR"]
    assert len(found) >= 2, found
    return found


def hold(stack, auth, email: str, items: list[dict]) -> dict:
    answer = stack.http.post(stack.url("/holds"), headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
                             json={"items": items, "contact": {"email": email, "name": "Traveler"}}, timeout=15)
    assert answer.status_code == 201, answer.text
    return answer.json()


def pay(stack, auth, booking_id: str) -> None:
    answer = stack.http.post(stack.url(f"/bookings/{booking_id}/payment"),
                             headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
                             json={"payment_method": "tok_visa"}, timeout=15)
    assert answer.status_code == 202, answer.text


def wait_until(read, done, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_a_traveler_reads_the_faq_and_follows_a_support_case_with_an_agent(browser_page, stack):
    page = browser_page
    email, auth = fresh_traveler(stack, "helpseeker")
    listing = paris_events(stack)[0]
    day = event_dates(stack, listing["listing_id"], 30, 30)[0]["date"]
    booking = hold(stack, auth, email, [{"listing_id": listing["listing_id"], "quantity": 1, "date": day}])

    sign_in(page, email, PASSWORD)
    # As from the booking page's "Ask for help with this booking" link: the booking is chosen.
    page.goto(f"/#/help?booking_id={booking['booking_id']}")
    page.get_by_role("heading", name="Help and FAQ", level=1).wait_for()
    question = page.get_by_text("My payment was declined. What now?")
    question.click()
    page.get_by_text("Your hold stays in place until it expires").wait_for()
    page.get_by_text("You have no support cases.").wait_for()
    choice = page.get_by_label("Booking (optional)")
    page.get_by_role("option", name=booking["reference"]).wait_for(state="attached")
    assert choice.input_value() == booking["booking_id"]
    screenshot(page, "traveler-help")

    page.get_by_label("Subject").fill("Is my concert booking real?")
    page.get_by_label("Message").fill("The page said HELD.\nWhat happens next?")
    page.get_by_role("button", name="Open the case").click()
    page.get_by_role("heading", name="Is my concert booking real?", level=1).wait_for()
    case_id = page.url.split("#/help/cases/")[1]
    thread = page.get_by_role("list", name="Messages")
    assert "What happens next?" in thread.inner_text()
    assert page.get_by_role("link", name=booking["reference"]).is_visible()

    page.get_by_role("link", name="All my support cases").click()
    mine = page.get_by_role("link", name="Is my concert booking real?")
    mine.wait_for()
    assert f"Booking {booking['reference']}" in page.get_by_role("listitem").filter(has=mine).inner_text()

    agent = stack.auth("agent@example.com")
    answered = stack.http.post(stack.url(f"/support/cases/{case_id}/messages"), headers=agent,
                               json={"body": "Your hold is real: pay before it expires to confirm it."}, timeout=10)
    assert answered.status_code == 201, answered.text

    mine.click()
    page.get_by_text("Your hold is real: pay before it expires").wait_for()
    assert "Itinera support" in thread.inner_text()
    assert "WAITING_ON_TRAVELER" in page.locator("main").inner_text()
    page.get_by_label("Your message").fill("Thanks, paying now.")
    page.get_by_role("button", name="Send reply").click()
    page.get_by_role("status").filter(has_text="Your message was sent.").wait_for()
    assert "Thanks, paying now." in thread.inner_text()
    screenshot(page, "traveler-support-case")

    case = stack.http.get(stack.url(f"/support/cases/{case_id}"), headers=auth, timeout=10).json()
    assert case["booking_id"] == booking["booking_id"] and case["status"] == "OPEN"
    assert [(m["from"], m["body"]) for m in case["messages"]] == [
        ("traveler", "The page said HELD.\nWhat happens next?"),
        ("agent", "Your hold is real: pay before it expires to confirm it."),
        ("traveler", "Thanks, paying now.")]

    page.get_by_role("button", name="Mark resolved").click()
    page.get_by_role("status").filter(has_text="The case is resolved.").wait_for()
    assert not page.get_by_role("button", name="Send reply").count()
    assert stack.http.get(stack.url(f"/support/cases/{case_id}"), headers=auth, timeout=10).json()["status"] == "RESOLVED"


def test_a_traveler_joins_the_waitlist_of_a_sold_out_date_and_leaves_it(browser_page, stack):
    page = browser_page
    email, auth = fresh_traveler(stack, "waiter")
    listing = paris_events(stack)[-1]
    # A date far ahead that nobody holds, sold out by its vendor (capacity 0).
    day = next(d for d in event_dates(stack, listing["listing_id"], 90, 28) if d["available"] == d["capacity"])
    vendor = stack.auth("vendor@example.com")
    closed = stack.http.put(stack.url(f"/vendor/listings/{listing['listing_id']}/availability"), headers=vendor,
                            json={"days": [{"date": day["date"], "capacity": 0, "price": day["price"]["amount"]}]},
                            timeout=10)
    assert closed.status_code == 200, closed.text

    sign_in(page, email, PASSWORD)
    page.goto(f"/#/listings/{listing['listing_id']}?date={day['date']}&quantity=2")
    page.get_by_role("heading", name="Sold out: join the waitlist").wait_for()
    page.get_by_role("button", name="Join the waitlist").click()
    page.get_by_role("status").filter(has_text="You are on the waitlist.").wait_for()
    entries = stack.http.get(stack.url("/me/waitlist"), headers=auth, timeout=10).json()["entries"]
    assert [(e["listing_id"], e["date"], e["quantity"], e["status"]) for e in entries] == [
        (listing["listing_id"], day["date"], 2, "WAITING")]

    page.get_by_role("link", name="See my waitlist").click()
    page.get_by_role("heading", name="My waitlist", level=1).wait_for()
    entry = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=listing["title"]))
    entry.wait_for()
    assert "WAITING" in entry.inner_text() and "2 units" in entry.inner_text()
    screenshot(page, "traveler-waitlist")

    entry.get_by_role("button", name="Leave").click()
    page.get_by_role("status").filter(has_text="You left the waitlist.").wait_for()
    page.get_by_role("listitem").filter(has_text="LEFT").wait_for()
    assert not page.get_by_role("button", name="Leave").count()
    entries = stack.http.get(stack.url("/me/waitlist"), headers=auth, timeout=10).json()["entries"]
    assert [e["status"] for e in entries] == ["LEFT"]


def test_recommendations_show_what_the_api_picks_for_a_traveler_with_history(browser_page, stack):
    page = browser_page
    first, second = paris_events(stack)[:2]
    both = {d["date"] for d in event_dates(stack, first["listing_id"], 10, 40)} & \
        {d["date"] for d in event_dates(stack, second["listing_id"], 10, 40)}
    day = min(both)
    # Another traveler books both listings together; ours books the first: the second is "also booked".
    other_email, other = fresh_traveler(stack, "other")
    email, auth = fresh_traveler(stack, "picky")
    together = hold(stack, other, other_email, [{"listing_id": first["listing_id"], "quantity": 1, "date": day},
                                                {"listing_id": second["listing_id"], "quantity": 1, "date": day}])
    mine = hold(stack, auth, email, [{"listing_id": first["listing_id"], "quantity": 1, "date": day}])
    pay(stack, other, together["booking_id"])
    pay(stack, auth, mine["booking_id"])
    for who, booking in ((other, together), (auth, mine)):
        status = wait_until(lambda: stack.http.get(stack.url(f"/bookings/{booking['booking_id']}"), headers=who,
                                                   timeout=10).json()["status"], lambda s: s == "CONFIRMED")
        assert status == "CONFIRMED"
    # The confirmation worker counts what was booked together: wait until the API says so.
    picks = wait_until(lambda: stack.http.get(stack.url("/me/recommendations"), headers=auth, params={"limit": 12},
                                              timeout=10).json()["recommendations"],
                       lambda found: any(p["listing_id"] == second["listing_id"] and p["reason"] == "also_booked"
                                         for p in found))
    assert any(p["listing_id"] == second["listing_id"] and p["reason"] == "also_booked" for p in picks), picks

    sign_in(page, email, PASSWORD)
    with page.expect_response(lambda r: "/me/recommendations" in r.url) as answer:
        page.goto("/#/for-you")
    picks = answer.value.json()["recommendations"]  # what the page was given, whatever else was booked since
    page.get_by_role("heading", name="For you", level=1).wait_for()
    cards = page.get_by_role("list", name="Recommendations").get_by_role("listitem")
    cards.first.wait_for()
    assert cards.count() == len(picks)
    for pick, card in zip(picks, cards.all()):
        link = card.get_by_role("link", name=pick["title"])
        assert link.get_attribute("href").startswith(f"#/listings/{pick['listing_id']}")
        price = pick.get("price") or pick.get("price_from")
        if price:
            assert f"{price['amount'] / 100:.2f}".replace(".", ",") in card.inner_text() or \
                f"{price['amount'] / 100:.2f}" in card.inner_text()
    assert "Travelers who booked what you booked also booked this" in \
        page.get_by_role("listitem").filter(has=page.get_by_role("link", name=second["title"])).inner_text()
    screenshot(page, "traveler-for-you")

    weekly = page.get_by_label("Email me a weekly selection of top picks")
    assert not weekly.is_checked()
    weekly.check()
    page.get_by_role("status").filter(has_text="Saved: you will receive a weekly email").wait_for()
    prefs = stack.http.get(stack.url("/me/preferences"), headers=auth, timeout=10).json()
    assert prefs == {"recommendation_emails": True}
