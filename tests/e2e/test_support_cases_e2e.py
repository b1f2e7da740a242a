"""Support cases end to end over HTTP: the answer email goes out through the notification worker
(delivered by the local stack's event runner) and reaches the emulator's SES."""
from __future__ import annotations

import time
import uuid

from tests.e2e.test_booking_e2e import TIMEOUT, mailbox


def _me(stack, headers):
    return stack.http.get(stack.url("/me"), headers=headers, timeout=TIMEOUT).json()


def test_a_traveler_opens_a_case_an_agent_answers_by_email_the_traveler_replies_the_agent_resolves(stack):
    traveler, agent = stack.new_traveler("support"), stack.auth("agent@example.com")
    email = _me(stack, traveler)["email"]
    subject = f"Charged twice? {uuid.uuid4().hex[:8]}"

    opened = stack.http.post(stack.url("/support/cases"), headers=traveler, timeout=TIMEOUT,
                             json={"subject": subject, "message": "I think I paid twice for my trip."})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    assert opened.json()["status"] == "OPEN"

    queue = stack.http.get(stack.url("/agent/cases"), params={"status": "OPEN", "limit": "100"}, headers=agent,
                           timeout=TIMEOUT)
    assert queue.status_code == 200, queue.text
    cursor, seen = queue.json()["next_cursor"], [c["case_id"] for c in queue.json()["cases"]]
    while case_id not in seen and cursor:
        page = stack.http.get(stack.url("/agent/cases"), params={"cursor": cursor, "limit": "100"}, headers=agent,
                              timeout=TIMEOUT).json()
        seen, cursor = seen + [c["case_id"] for c in page["cases"]], page["next_cursor"]
    assert case_id in seen

    answered = stack.http.post(stack.url(f"/support/cases/{case_id}/messages"), headers=agent, timeout=TIMEOUT,
                               json={"body": "Only one payment was captured; the other was released."})
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "WAITING_ON_TRAVELER"

    deadline = time.monotonic() + 30
    while True:
        mine = [m for m in mailbox(stack) if subject in (m["subject"] or "")]
        if mine:
            break
        assert time.monotonic() < deadline, "the answer email never reached the emulator's SES"
        time.sleep(0.25)
    [message] = mine
    assert message["destinations"]["ToAddresses"] == [email]
    assert "Only one payment was captured" in message["body"]

    replied = stack.http.post(stack.url(f"/support/cases/{case_id}/messages"), headers=traveler, timeout=TIMEOUT,
                              json={"body": "Thanks, I see it now."})
    assert replied.status_code == 201, replied.text
    assert replied.json()["status"] == "OPEN"

    resolved = stack.http.post(stack.url(f"/support/cases/{case_id}/resolve"), headers=agent, timeout=TIMEOUT)
    assert resolved.status_code == 200, resolved.text
    case = stack.http.get(stack.url(f"/support/cases/{case_id}"), headers=traveler, timeout=TIMEOUT).json()
    assert case["status"] == "RESOLVED"
    assert [(m["from"], m["body"]) for m in case["messages"]] == [
        ("traveler", "I think I paid twice for my trip."),
        ("agent", "Only one payment was captured; the other was released."),
        ("traveler", "Thanks, I see it now.")]
    late = stack.http.post(stack.url(f"/support/cases/{case_id}/messages"), headers=traveler, timeout=TIMEOUT,
                           json={"body": "One more thing"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "INVALID_STATE", late.text
    mine = [c["case_id"] for c in stack.http.get(stack.url("/me/support/cases"), headers=traveler,
                                                 timeout=TIMEOUT).json()["cases"]]
    assert mine == [case_id]
