"""The support agent's desk in a real browser: find a traveler's booking by reference, refund part
of it with a reason (checked against the API's booking and audit), a refund over what is left
shows the API's REFUND_EXCEEDS_CAPTURED message and changes nothing, and a case opened by a
traveler is answered from the queue."""
from __future__ import annotations

import datetime
import time
import uuid

from tests.e2e.web import screenshot, sign_in

TIMEOUT = 10
AGENT = "agent@example.com"


def _confirmed_booking(stack) -> tuple[dict, dict]:
    """A fresh traveler's CONFIRMED booking, made through the API as the web app would: a hotel
    night found by GET /search, held, paid with tok_visa; the stack's worker confirms it."""
    traveler = stack.new_traveler("desk")
    me = stack.http.get(stack.url("/me"), headers=traveler, timeout=TIMEOUT).json()
    results = []
    for offset in range(30, 60):
        check_in = (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()
        check_out = (datetime.date.today() + datetime.timedelta(days=offset + 1)).isoformat()
        found = stack.http.get(stack.url("/search"), timeout=TIMEOUT, params={
            "kind": "hotel", "city": "LIS", "check_in": check_in, "check_out": check_out, "quantity": "1"})
        assert found.status_code == 200, found.text
        results = found.json()["results"]
        if results:
            break
    assert results, "no hotel night on sale in LIS"
    held = stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex},
                           timeout=TIMEOUT, json={
                               "items": [{"listing_id": results[0]["listing_id"], "quantity": 1,
                                          "check_in": check_in, "check_out": check_out}],
                               "contact": {"email": me["email"], "name": "Desk Traveler"}})
    assert held.status_code == 201, held.text
    booking_id = held.json()["booking_id"]
    paid = stack.http.post(stack.url(f"/bookings/{booking_id}/payment"), timeout=TIMEOUT,
                           headers={**traveler, "Idempotency-Key": uuid.uuid4().hex},
                           json={"payment_method": "tok_visa"})
    assert paid.status_code == 202, paid.text
    deadline = time.monotonic() + 30
    while True:
        booking = stack.http.get(stack.url(f"/bookings/{booking_id}"), headers=traveler, timeout=TIMEOUT).json()
        if booking["status"] == "CONFIRMED":
            return booking, traveler
        assert booking["status"] == "CONFIRMING" and time.monotonic() < deadline, booking
        time.sleep(0.25)


def _booking(stack, agent, booking_id) -> dict:
    return stack.http.get(stack.url(f"/bookings/{booking_id}"), headers=agent, timeout=TIMEOUT).json()


def _major(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def test_an_agent_finds_a_booking_by_reference_and_refunds_part_of_it(browser_page, stack):
    booking, _ = _confirmed_booking(stack)
    assert booking["amount"]["currency"] in ("EUR", "USD", "GBP")  # two minor digits, as _major writes
    agent = stack.auth(AGENT)
    page = browser_page
    sign_in(page, AGENT)

    page.get_by_role("link", name="Desk", exact=True).click()
    page.get_by_role("heading", name="Support desk").wait_for()
    page.get_by_label("Booking reference or traveler email").fill(booking["reference"].lower())
    page.get_by_role("button", name="Find bookings").click()
    result = page.get_by_role("link", name=booking["reference"], exact=True)
    result.wait_for()
    assert f"reference={booking['reference']}" in page.url  # the search stays in the address
    assert booking["contact"]["email"] in page.locator(".agent-result").first.inner_text()
    screenshot(page, "agent-desk")

    result.click()
    page.get_by_role("heading", name=f"Booking {booking['reference']}").wait_for()
    page.get_by_role("table", name="Audit").get_by_role("cell", name="capture", exact=True).wait_for()

    captured = booking["captured_amount"]["amount"]
    part = captured // 3
    reason = f"Goodwill for a noisy room {uuid.uuid4().hex[:6]}"
    # The first answer is lost on its way back (the API did the refund; the page hears only that it
    # is still in progress): the agent reloads the page and retries, the page sends the same
    # Idempotency-Key (kept in sessionStorage), and the API answers the first refund again instead
    # of refunding twice.
    keys: list[str] = []

    def lose_first_answer(route):
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()
            route.fulfill(status=409, content_type="application/json", body='{"error": {"code": '
                          '"REQUEST_IN_PROGRESS", "message": "This request is still being processed.", "details": {}}}')
        else:
            route.continue_()

    page.route("**/bookings/*/refunds", lose_first_answer)
    page.get_by_label("Refund amount").fill(_major(part))
    page.get_by_label("Reason", exact=True).fill(reason)
    page.get_by_role("button", name="Refund", exact=True).click()
    page.get_by_role("alert").filter(has_text="REQUEST_IN_PROGRESS").wait_for()
    page.reload()
    page.get_by_role("heading", name=f"Booking {booking['reference']}").wait_for()
    page.get_by_role("status").filter(has_text="got no final answer").wait_for()
    assert page.get_by_label("Refund amount").input_value() == _major(part)  # offered again as it was
    page.get_by_label("Refund amount").fill(_major(part))
    page.get_by_label("Reason", exact=True).fill(reason)
    page.get_by_role("button", name="Refund", exact=True).click()
    page.get_by_role("table", name="Audit").get_by_role("cell", name=reason).first.wait_for()
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
    page.get_by_role("status").filter(has_text="Refund of").wait_for()
    screenshot(page, "agent-booking")

    after = _booking(stack, agent, booking["booking_id"])
    assert after["refunded_amount"]["amount"] == part
    audit = stack.http.get(stack.url(f"/bookings/{booking['booking_id']}/audit"), headers=agent,
                           timeout=TIMEOUT).json()["entries"]
    refunds = [e for e in audit if e["action"] == "refund"]
    assert [(e["amount"]["amount"], e["reason"]) for e in refunds] == [(part, reason)]


def test_a_refund_over_what_is_left_shows_the_api_message_and_changes_nothing(browser_page, stack):
    booking, _ = _confirmed_booking(stack)
    agent = stack.auth(AGENT)
    page = browser_page
    sign_in(page, AGENT)
    # The traveler's email finds the booking too.
    page.goto(f"/#/agent?email={booking['contact']['email']}")
    page.get_by_role("link", name=booking["reference"], exact=True).click()
    page.get_by_role("heading", name=f"Booking {booking['reference']}").wait_for()

    too_much = booking["captured_amount"]["amount"] - booking["refunded_amount"]["amount"] + 100
    page.get_by_label("Refund amount").fill(_major(too_much))
    page.get_by_label("Reason", exact=True).fill("More than was paid")
    page.get_by_role("button", name="Refund", exact=True).click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "REFUND_EXCEEDS_CAPTURED" in alert.inner_text()
    assert "captured" in alert.inner_text()  # the API's own sentence

    after = _booking(stack, agent, booking["booking_id"])
    assert after["refunded_amount"]["amount"] == booking["refunded_amount"]["amount"] == 0
    assert after["status"] == "CONFIRMED"


def test_an_agent_answers_a_travelers_case_from_the_queue(browser_page, stack):
    traveler = stack.new_traveler("case")
    subject = f"Where is my voucher? {uuid.uuid4().hex[:6]}"
    opened = stack.http.post(stack.url("/support/cases"), headers=traveler, timeout=TIMEOUT,
                             json={"subject": subject, "message": "I did not get the voucher email."})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]

    page = browser_page
    sign_in(page, AGENT)
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_role("heading", name="Support cases").wait_for()
    case_link = page.get_by_role("link", name=subject)
    rows = page.locator("main .paged li")
    rows.first.wait_for()
    while case_link.count() == 0:  # the queue is paged, oldest first: ours is among the newest
        shown = rows.count()
        page.get_by_role("button", name="Load more").click()
        page.wait_for_function("n => document.querySelectorAll('main .paged li').length > n", arg=shown)
    screenshot(page, "agent-cases")
    case_link.click()
    page.get_by_role("heading", name=subject).wait_for()
    page.get_by_text("I did not get the voucher email.").wait_for()

    answer = "We sent it again just now; check your spam folder too."
    page.get_by_label("Your answer").fill(answer)
    page.get_by_role("button", name="Send answer").click()
    page.get_by_role("list", name="Messages").get_by_text(answer).wait_for()

    case = stack.http.get(stack.url(f"/support/cases/{case_id}"), headers=traveler, timeout=TIMEOUT).json()
    assert case["status"] == "WAITING_ON_TRAVELER"
    assert [(m["from"], m["body"]) for m in case["messages"]][-1] == ("agent", answer)
