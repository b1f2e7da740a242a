"""Agent refunds (API.md "Support agents"): never more than was captured, once per key, every
provider outcome handled, and the audit of who did what."""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.booking import refunds, service
from chalicelib.booking.models import Booking, LedgerEntry, RefundRecord
from chalicelib.booking.payments.port import AmountExceeded
from chalicelib.core import clock
from tests.integration.booking_helpers import hold_a_night, key, make_listing, pay_booking

PRICE = 12000


@pytest.fixture
def hotel(api, tokens):
    # Free cancellation ended 40 days before the stay: a cancellation refunds half.
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=5, price=PRICE, policy=(960, 50))


@pytest.fixture
def confirmed(api, tokens, hotel, fake):
    """A one-night booking, paid and captured: 12000 to refund at most."""
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 20)
    assert pay_booking(api, tokens["traveler"], booking_id).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    return booking_id


def refund(api, token, booking_id, amount, reason="Late check-in", headers=None):
    return api.post(f"/bookings/{booking_id}/refunds", {"amount": amount, "reason": reason}, token=token,
                    headers=headers or key())


def ledger_refunds(booking_id: str) -> int:
    return sum(int(e.amount) for e in LedgerEntry.query(booking_id) if e.kind == "refund")


def test_a_partial_refund_is_recorded_in_the_booking_the_ledger_and_the_timeline(api, tokens, confirmed):
    answer = refund(api, tokens["agent"], confirmed, 3000)
    assert answer.status_code == 201
    assert answer.data["status"] == "SUCCEEDED" and answer.data["amount"] == {"amount": 3000, "currency": "EUR"}
    booking = api.get(f"/bookings/{confirmed}", token=tokens["agent"]).data
    assert booking["refunded_amount"]["amount"] == 3000
    event = booking["timeline"][-1]
    assert event["event"] == "refunded" and event["by"].startswith("agent:") and event["note"] == "Late check-in"
    assert ledger_refunds(confirmed) == 3000


def test_refunds_up_to_the_capture_and_not_one_cent_more(api, tokens, confirmed):
    assert refund(api, tokens["agent"], confirmed, 5000).status_code == 201
    assert refund(api, tokens["agent"], confirmed, PRICE - 5000).status_code == 201
    over = refund(api, tokens["agent"], confirmed, 1)
    assert over.status_code == 409 and over.data["error"]["code"] == "REFUND_EXCEEDS_CAPTURED"
    assert ledger_refunds(confirmed) == PRICE


def test_the_same_key_refunds_once(api, tokens, confirmed, fake):
    headers = key()
    first = refund(api, tokens["agent"], confirmed, 2000, headers=headers)
    again = refund(api, tokens["agent"], confirmed, 2000, headers=headers)
    assert first.status_code == again.status_code == 201 and first.data == again.data
    assert ledger_refunds(confirmed) == 2000 and fake.calls["refund"] == 1


# Concurrent refunds run against the emulator in server mode (tests/e2e/test_refunds_e2e.py):
# the in-process mock is not safe for concurrent transactions.


def test_a_key_reused_with_another_amount_is_422(api, tokens, confirmed):
    headers = key()
    assert refund(api, tokens["agent"], confirmed, 2000, headers=headers).status_code == 201
    reused = refund(api, tokens["agent"], confirmed, 2500, headers=headers)
    assert reused.status_code == 422 and reused.data["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize("role", ["traveler", "vendor"])
def test_travelers_and_vendors_may_not_refund(api, tokens, confirmed, role):
    answer = refund(api, tokens[role], confirmed, 100)
    assert answer.status_code == 403


@pytest.mark.parametrize("body", [{"amount": 0, "reason": "x"}, {"amount": -5, "reason": "x"},
                                  {"amount": 100}, {"amount": 100, "reason": ""}, {"amount": 1.5, "reason": "x"}])
def test_a_reason_and_a_positive_integer_amount_are_required(api, tokens, confirmed, body):
    answer = api.post(f"/bookings/{confirmed}/refunds", body, token=tokens["agent"], headers=key())
    assert answer.status_code == 400 and answer.data["error"]["code"] == "VALIDATION_ERROR"


def test_a_hold_cannot_be_refunded(api, tokens, hotel, fake):
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 21)
    answer = refund(api, tokens["agent"], booking_id, 100)
    assert answer.status_code == 409 and answer.data["error"]["code"] == "INVALID_STATE"


def test_a_provider_that_does_not_answer_leaves_no_ledger_entry_and_the_retry_refunds_once(api, tokens, confirmed,
                                                                                            fake):
    fake.fail_next("refund")
    headers = key()
    first = refund(api, tokens["agent"], confirmed, 4000, headers=headers)
    assert first.status_code == 503 and first.headers["Retry-After"]
    assert ledger_refunds(confirmed) == 0
    retried = refund(api, tokens["agent"], confirmed, 4000, headers=headers)
    assert retried.status_code == 201
    assert ledger_refunds(confirmed) == 4000
    assert fake.payment(Booking.get(confirmed).payment_id).refunded_amount == 4000


def test_an_answer_lost_after_the_provider_refunded_is_recorded_once_on_retry(api, tokens, confirmed, fake):
    fake.lose_next_answer("refund")
    headers = key()
    assert refund(api, tokens["agent"], confirmed, 4000, headers=headers).status_code == 503
    assert refund(api, tokens["agent"], confirmed, 4000, headers=headers).status_code == 201
    assert fake.payment(Booking.get(confirmed).payment_id).refunded_amount == 4000 == ledger_refunds(confirmed)


def test_a_refund_nobody_retries_is_finished_by_the_sweeper(api, tokens, confirmed, fake):
    fake.lose_next_answer("refund")
    assert refund(api, tokens["agent"], confirmed, 4000).status_code == 503
    clock.advance(refunds.RESUME_AFTER_SECONDS + 1)
    try:
        assert service.release_expired_holds()["refunds_resumed"] == 1
    finally:
        clock.reset()
    assert ledger_refunds(confirmed) == 4000 == Booking.get(confirmed).refunded_amount
    assert fake.payment(Booking.get(confirmed).payment_id).refunded_amount == 4000


def test_a_provider_refusal_gives_the_room_back_and_leaves_no_ledger_entry(api, tokens, confirmed, fake):
    fake.fail_next("refund", error=AmountExceeded("Not that much is left."))
    refused = refund(api, tokens["agent"], confirmed, 4000)
    assert refused.status_code == 409 and refused.data["error"]["code"] == "REFUND_EXCEEDS_CAPTURED"
    booking = Booking.get(confirmed)
    assert ledger_refunds(confirmed) == 0 and booking.refund_room == PRICE and not booking.refunds_in_flight
    assert refund(api, tokens["agent"], confirmed, PRICE).status_code == 201


def test_a_cancellation_after_a_refund_refunds_only_what_is_left(api, tokens, confirmed, fake):
    assert refund(api, tokens["agent"], confirmed, 10000).status_code == 201
    assert api.post(f"/bookings/{confirmed}/cancel", {}, token=tokens["traveler"]).status_code == 202
    assert service.process_cancellation(confirmed) == "cancelled"
    booking = Booking.get(confirmed)
    assert booking.refunded_amount == PRICE == ledger_refunds(confirmed)
    assert booking.refund_room == 0


def test_a_cancelled_booking_can_still_be_refunded_what_the_policy_kept(api, tokens, confirmed, fake):
    assert api.post(f"/bookings/{confirmed}/cancel", {}, token=tokens["traveler"]).status_code == 202
    assert service.process_cancellation(confirmed) == "cancelled"
    kept = PRICE - Booking.get(confirmed).refunded_amount
    assert kept > 0  # the policy refunds half
    assert refund(api, tokens["agent"], confirmed, kept + 1).status_code == 409
    assert refund(api, tokens["agent"], confirmed, kept).status_code == 201
    assert Booking.get(confirmed).refunded_amount == PRICE


def test_a_pending_refund_is_settled_or_reversed_by_the_providers_event(api, tokens, confirmed, fake):
    fake.hold_refunds_pending(times=2)
    first = refund(api, tokens["agent"], confirmed, 3000)
    second = refund(api, tokens["agent"], confirmed, 2000)
    assert first.data["status"] == second.data["status"] == "PENDING"
    records = {int(r.amount): r for r in RefundRecord.query(confirmed)}

    assert refunds.settle_pending(records[3000].provider_refund_id, "succeeded") == "succeeded"
    assert refunds.settle_pending(records[2000].provider_refund_id, "failed") == "reversed"
    assert refunds.settle_pending(records[2000].provider_refund_id, "failed") == "skipped"  # a redelivery
    booking = Booking.get(confirmed)
    assert booking.refunded_amount == 3000 and booking.refund_room == PRICE - 3000
    kinds = [(e.kind, int(e.amount)) for e in LedgerEntry.query(confirmed)]
    assert ("refund_reversal", 2000) in kinds
    assert booking.timeline[-1].event == "refund_failed"


def test_the_audit_lists_money_movements_and_staff_actions_for_staff_only(api, tokens, confirmed):
    assert refund(api, tokens["agent"], confirmed, 1500, reason="Broken heating").status_code == 201
    audit = api.get(f"/bookings/{confirmed}/audit", token=tokens["admin"])
    assert audit.status_code == 200
    actions = [(e["action"], e.get("amount", {}).get("amount"), e["actor"].split(":")[0]) for e in audit.data["entries"]]
    assert actions[:2] == [("authorization", PRICE, "traveler"), ("capture", PRICE, "confirmation-worker")] or \
        ("capture", PRICE) in [(a, m) for a, m, _ in actions]
    assert ("refund_requested", 1500, "agent") in actions and ("refund", 1500, "agent") in actions
    assert all(e.get("reason") == "Broken heating" for e in audit.data["entries"] if e["action"].startswith("refund"))
    assert api.get(f"/bookings/{confirmed}/audit", token=tokens["traveler"]).status_code == 403


def test_an_agents_cancel_names_the_agent_in_the_timeline_and_the_audit(api, tokens, confirmed):
    cancelled = api.post(f"/bookings/{confirmed}/cancel", {"reason": "Traveler called"}, token=tokens["agent"])
    assert cancelled.status_code == 202
    assert cancelled.data["timeline"][-1]["by"].startswith("agent:")
    audit = api.get(f"/bookings/{confirmed}/audit", token=tokens["agent"]).data["entries"]
    assert [e for e in audit if e["action"] == "cancel"][0]["reason"] == "Traveler called"


def test_a_cancel_waits_while_a_refund_is_in_flight(api, tokens, confirmed, fake):
    fake.fail_next("refund")
    assert refund(api, tokens["agent"], confirmed, 1000, headers={"Idempotency-Key": uuid.uuid4().hex}).status_code == 503
    busy = api.post(f"/bookings/{confirmed}/cancel", {}, token=tokens["traveler"])
    assert busy.status_code == 409 and busy.data["error"]["code"] == "INVALID_STATE"


def test_stripes_refund_updated_event_reverses_a_failed_pending_refund(api, tokens, confirmed, fake, monkeypatch):
    from tests.integration.test_payments_webhooks import SECRET, stripe_signature

    fake.hold_refunds_pending()
    assert refund(api, tokens["agent"], confirmed, 2500).data["status"] == "PENDING"
    [record] = RefundRecord.query(confirmed)
    monkeypatch.setenv("ITINERA_STRIPE_WEBHOOK_SECRET", SECRET)
    event = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "refund.updated",
                        "created": 1, "data": {"object": {"id": record.provider_refund_id, "object": "refund",
                                                          "status": "failed", "amount": 2500}}})
    received = api.post("/webhooks/stripe", event, headers={"Stripe-Signature": stripe_signature(event)})
    assert received.status_code == 200
    assert Booking.get(confirmed).refunded_amount == 0
    assert RefundRecord.get(confirmed, record.refund_key).status == "FAILED"


# -- what nobody was waiting for reaches the agents' queue -------------------------------------


def queue(api, tokens) -> list[dict]:
    return api.get("/agent/cases?status=OPEN", token=tokens["agent"]).data["cases"]


def sweep_after(seconds: float) -> dict[str, int]:
    clock.advance(seconds)
    try:
        return service.release_expired_holds()
    finally:
        clock.reset()


def test_a_refund_the_provider_fails_later_opens_one_case_in_the_agents_queue(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    assert refund(api, tokens["agent"], confirmed, 2500, reason="Noisy room").data["status"] == "PENDING"
    [record] = RefundRecord.query(confirmed)

    assert refunds.settle_pending(record.provider_refund_id, "failed") == "reversed"
    assert refunds.settle_pending(record.provider_refund_id, "failed") == "skipped"  # a redelivery

    [case] = queue(api, tokens)
    booking = api.get(f"/bookings/{confirmed}", token=tokens["agent"]).data
    assert case["booking_id"] == confirmed and case["booking_reference"] == booking["reference"]
    thread = api.get(f"/support/cases/{case['case_id']}", token=tokens["agent"]).data["messages"]
    assert [m["from"] for m in thread] == ["system"]
    assert "25.00 EUR" in thread[0]["body"] and booking["reference"] in thread[0]["body"]


def test_the_travelers_sees_the_case_and_the_agents_answer_reaches_them(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    refund(api, tokens["agent"], confirmed, 2500)
    [record] = RefundRecord.query(confirmed)
    refunds.settle_pending(record.provider_refund_id, "canceled")
    [case] = api.get("/me/support/cases", token=tokens["traveler"]).data["cases"]

    answered = api.post(f"/support/cases/{case['case_id']}/messages", {"body": "We refunded it again."},
                        token=tokens["agent"])
    assert answered.status_code == 201 and answered.data["status"] == "WAITING_ON_TRAVELER"


def test_a_pending_refund_whose_event_never_comes_is_settled_by_the_sweeper(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    refund(api, tokens["agent"], confirmed, 2500)
    [record] = RefundRecord.query(confirmed)

    assert sweep_after(refunds.PENDING_CHECK_SECONDS + 1)["refunds_settled"] == 0  # still pending there
    fake.settle_refund(record.provider_refund_id, "succeeded")
    assert sweep_after(refunds.PENDING_CHECK_SECONDS * 2 + 2)["refunds_settled"] == 1

    assert RefundRecord.get(confirmed, record.refund_key).status == "SUCCEEDED"
    assert Booking.get(confirmed).refunded_amount == 2500


def test_a_pending_refund_the_sweeper_finds_failed_is_reversed_and_queued(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    refund(api, tokens["agent"], confirmed, 2500)
    [record] = RefundRecord.query(confirmed)
    fake.settle_refund(record.provider_refund_id, "failed")

    assert sweep_after(refunds.PENDING_CHECK_SECONDS + 1)["refunds_settled"] == 1

    assert Booking.get(confirmed).refunded_amount == 0 and Booking.get(confirmed).refund_room == PRICE
    assert len(queue(api, tokens)) == 1


def test_a_pending_check_the_provider_does_not_answer_is_asked_again(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    refund(api, tokens["agent"], confirmed, 2500)
    [record] = RefundRecord.query(confirmed)
    fake.settle_refund(record.provider_refund_id, "succeeded")
    fake.fail_next("retrieve_refund")

    assert sweep_after(refunds.PENDING_CHECK_SECONDS + 1)["refunds_settled"] == 0
    assert sweep_after(refunds.PENDING_CHECK_SECONDS + 1)["refunds_settled"] == 1


def test_a_refund_that_failed_before_its_lost_answer_was_replayed_refunds_nothing(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    fake.lose_next_answer("refund")
    headers = key()
    assert refund(api, tokens["agent"], confirmed, 4000, headers=headers).status_code == 503
    [refund_id] = fake.payment(Booking.get(confirmed).payment_id).refund_ids
    fake.settle_refund(refund_id, "failed")

    retried = refund(api, tokens["agent"], confirmed, 4000, headers=headers)

    assert retried.status_code == 409 and retried.data["error"]["code"] == "INVALID_STATE"
    assert ledger_refunds(confirmed) == 0 and Booking.get(confirmed).refund_room == PRICE


def test_a_refusal_met_by_the_sweeper_opens_a_case(api, tokens, confirmed, fake):
    fake.fail_next("refund")
    assert refund(api, tokens["agent"], confirmed, 4000).status_code == 503
    fake.fail_next("refund", error=AmountExceeded("Not that much is left."))

    assert sweep_after(refunds.RESUME_AFTER_SECONDS + 1)["refunds_resumed"] == 1

    assert RefundRecord.query(confirmed).next().status == "FAILED"
    [case] = queue(api, tokens)
    assert case["subject"] == "A refund could not be issued"
    audit = api.get(f"/bookings/{confirmed}/audit", token=tokens["agent"]).data["entries"]
    assert [e["reason"] for e in audit if e["action"] == "refund_refused"] == [
        "The payment provider refused the refund: Not that much is left."]


def test_money_refunded_outside_itinera_brings_the_refund_room_down_to_the_providers(api, tokens, confirmed, fake):
    payment_id = Booking.get(confirmed).payment_id
    fake.refund(payment_id, amount=9000, idempotency_key="from-the-stripe-dashboard")

    refused = refund(api, tokens["agent"], confirmed, 5000)

    assert refused.status_code == 409 and refused.data["error"]["code"] == "REFUND_EXCEEDS_CAPTURED"
    assert Booking.get(confirmed).refund_room == PRICE - 9000
    assert refund(api, tokens["agent"], confirmed, PRICE - 9000 + 1).status_code == 409
    audit = api.get(f"/bookings/{confirmed}/audit", token=tokens["agent"]).data["entries"]
    aligned = [e for e in audit if e["action"] == "refund_room_aligned"]
    assert len(aligned) == 1 and aligned[0]["amount"]["amount"] == 9000
    assert [c["subject"] for c in queue(api, tokens)] == ["The refunds of a booking need checking"]


def test_a_reversal_whose_case_could_not_be_opened_is_reported_by_the_sweeper(api, tokens, confirmed, fake,
                                                                            monkeypatch):
    from chalicelib.support import service as support

    fake.hold_refunds_pending()
    refund(api, tokens["agent"], confirmed, 2500)
    [record] = RefundRecord.query(confirmed)
    real = support.open_system_case

    def dies(**kwargs):
        raise RuntimeError("the process died before the case was written")
    monkeypatch.setattr(support, "open_system_case", dies)
    assert refunds.settle_pending(record.provider_refund_id, "failed") == "reversed"
    assert queue(api, tokens) == []

    monkeypatch.setattr(support, "open_system_case", real)
    assert sweep_after(1)["refunds_reported"] == 1
    assert len(queue(api, tokens)) == 1
    assert sweep_after(1)["refunds_reported"] == 0


def test_the_traveler_cannot_resolve_the_case_of_a_refund_owed_to_them(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    refund(api, tokens["agent"], confirmed, 2500)
    [record] = RefundRecord.query(confirmed)
    refunds.settle_pending(record.provider_refund_id, "failed")
    [case] = queue(api, tokens)

    refused = api.post(f"/support/cases/{case['case_id']}/resolve", {}, token=tokens["traveler"])

    assert refused.status_code == 409 and refused.data["error"]["code"] == "INVALID_STATE"
    assert api.post(f"/support/cases/{case['case_id']}/resolve", {}, token=tokens["agent"]).status_code == 200


def test_a_pending_refund_the_provider_does_not_know_is_reported_once_and_asked_about_less_often(
        api, tokens, confirmed, fake):
    from chalicelib.booking.payments.port import UnknownPayment

    fake.hold_refunds_pending()
    refund(api, tokens["agent"], confirmed, 2500)
    fake.fail_next("retrieve_refund", times=2, error=UnknownPayment)

    sweep_after(refunds.PENDING_CHECK_SECONDS + 1)
    sweep_after(refunds.PENDING_CHECK_SECONDS + 60)  # a minute later: not asked again yet
    assert fake.calls["retrieve_refund"] == 1
    sweep_after(refunds.PENDING_CHECK_SECONDS * 2 + 2)

    assert fake.calls["retrieve_refund"] == 2
    assert [c["subject"] for c in queue(api, tokens)] == ["A refund needs checking"]
    assert RefundRecord.query(confirmed).next().status == "PENDING"


def test_a_cancellations_refund_that_fails_later_is_reversed_and_reported(api, tokens, confirmed, fake):
    fake.hold_refunds_pending()
    assert api.post(f"/bookings/{confirmed}/cancel", {}, token=tokens["traveler"]).status_code == 202
    assert service.process_cancellation(confirmed) == "cancelled"
    paid_back = Booking.get(confirmed).refunded_amount
    [record] = RefundRecord.query(confirmed)
    assert record.status == "PENDING" and int(record.amount) == paid_back > 0

    assert refunds.settle_pending(record.provider_refund_id, "failed") == "reversed"

    booking = Booking.get(confirmed)
    assert booking.refunded_amount == 0 == ledger_refunds(confirmed) - paid_back
    assert booking.refund_room == PRICE  # an agent can pay the traveler back
    assert [c["subject"] for c in queue(api, tokens)] == ["A refund did not go through"]
