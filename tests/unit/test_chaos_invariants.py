"""The fault-injection run's auditor must see each kind of damage: a checker that passes
everything would make the run prove nothing."""
from __future__ import annotations

import time
from decimal import Decimal

from tools.chaos.invariants import (Findings, card_numbers, check_bookings, check_card_numbers, check_inventory,
                                   check_webhook_deliveries, check_webhook_events, check_webhook_replays)


def day(held=0, sold=0, capacity=4, available=None):
    return {"listing_id": "lst_1", "date": "2027-01-01", "held": Decimal(held), "sold": Decimal(sold),
            "capacity": Decimal(capacity),
            "available": Decimal(capacity - held - sold if available is None else available)}


def booking(status="CONFIRMED", quantity=1, captured=10000, refunded=0, payment_id="pay_1", **extra):
    return {"booking_id": "bk_1", "reference": "ITN-1", "traveler_id": "t1", "status": status,
            "items": [{"listing_id": "lst_1", "quantity": Decimal(quantity), "dates": ["2027-01-01"]}],
            "captured_amount": Decimal(captured), "refunded_amount": Decimal(refunded), "payment_id": payment_id,
            "refund_room": Decimal(captured - refunded), **extra}


def payment(status="captured", captured=10000, refunded=0, payment_id="pay_1"):
    return {"payment_id": payment_id, "status": status, "captured_amount": Decimal(captured),
            "refunded_amount": Decimal(refunded), "metadata": {"booking_id": "bk_1"}}


def capture(amount=10000):
    return {"booking_id": "bk_1", "kind": "capture", "amount": Decimal(amount)}


def violated(findings: Findings) -> set[str]:
    return {name for name, _ in findings.violations}


def test_a_consistent_confirmed_booking_passes():
    findings = Findings()
    check_inventory(findings, [day(sold=1)], [booking()])
    check_bookings(findings, [booking()], [capture()], [payment()], [])
    assert findings.violations == [] and findings.checked


def test_oversold_dates_are_caught():
    findings = Findings()
    check_inventory(findings, [day(held=2, sold=3, capacity=4)], [])
    assert "held + sold <= capacity" in violated(findings)


def test_units_no_booking_accounts_for_are_caught():
    findings = Findings()
    check_inventory(findings, [day(held=1)], [booking(status="EXPIRED", captured=0)])
    assert "held = units of live holds" in violated(findings)


def test_a_booking_left_confirming_is_caught():
    findings = Findings()
    check_bookings(findings, [booking(status="CONFIRMING", captured=0)], [], [], [])
    assert "final state" in violated(findings)


def test_two_captures_are_caught_in_the_ledger_and_at_the_provider():
    findings = Findings()
    check_bookings(findings, [booking(captured=20000)], [capture(), capture()],
                   [payment(), payment(payment_id="pay_2")], [])
    assert {"at most one capture", "provider: at most one capture"} <= violated(findings)


def test_an_open_authorization_on_a_settled_booking_is_caught():
    findings = Findings()
    check_bookings(findings, [booking()], [capture()], [payment(), payment("authorized", 0, payment_id="pay_2")], [])
    assert "provider: no open authorization on a settled booking" in violated(findings)


def test_a_capture_on_a_booking_never_confirmed_is_caught():
    findings = Findings()
    check_bookings(findings, [booking(status="EXPIRED", captured=0)], [], [payment()], [])
    assert "provider: no capture on an unconfirmed booking" in violated(findings)


def test_a_ledger_that_disagrees_with_the_totals_is_caught():
    findings = Findings()
    check_bookings(findings, [booking(refunded=5000)], [capture()], [payment(refunded=5000)], [])
    assert "captured - refunded = ledger" in violated(findings)


def test_an_active_holds_counter_off_by_one_is_caught():
    findings = Findings()
    check_bookings(findings, [booking(status="HELD", captured=0)], [], [],
                   [{"traveler_id": "t1", "count": Decimal(2)}])
    assert "active-holds counter = HELD bookings" in violated(findings)


def test_card_numbers_are_found_in_tables_and_logs(tmp_path):
    log = tmp_path / "service.log"
    log.write_text('{"message": "pay", "method": "4242 4242 4242 4242"}\n')
    findings = Findings()
    check_card_numbers(findings, {"bookings": [{"note": "card 4000056655665556"}]}, [log])
    assert violated(findings) == {"no card number in the tables", "no card number in the logs"}


def test_a_uuid_whose_first_groups_are_digits_is_not_a_card_number():
    # Found by the 10,000-operation run: a correlation id's digits pass the Luhn check.
    assert card_numbers('"correlation_id":"29593375-5418-4831-ac60-1d29ac01ff91"') == []


def test_ids_and_timestamps_are_not_card_numbers():
    assert card_numbers("f4-389718541322 53-5310-4182-827 "
                        f"{int(time.time() * 1000)} bk_4242424242424242") == []


def test_a_confirmed_booking_whose_payment_the_provider_voided_is_caught():
    findings = Findings()
    check_bookings(findings, [booking()], [capture()], [payment("voided", 0)], [])
    assert "provider: amounts agree" in violated(findings)


def test_a_capture_on_a_failed_booking_is_caught_even_with_a_ledger_entry():
    findings = Findings()
    check_bookings(findings, [booking(status="FAILED")], [capture()], [payment()], [])
    assert "provider: no capture on an unconfirmed booking" in violated(findings)


def test_a_payment_of_no_booking_is_caught():
    findings = Findings()
    orphan = {**payment(), "metadata": {"booking_id": "bk_gone"}}
    check_bookings(findings, [booking()], [capture()], [payment(), orphan], [])
    assert "provider: every payment belongs to a booking" in violated(findings)


def test_held_bookings_without_a_counter_row_are_caught():
    findings = Findings()
    check_bookings(findings, [booking(status="HELD", captured=0)], [], [], [])
    assert "active-holds counter = HELD bookings" in violated(findings)


def test_a_refund_left_reserved_is_caught():
    findings = Findings()
    reserved = {"booking_id": "bk_1", "refund_key": "abcdef123456", "status": "RESERVED"}
    check_bookings(findings, [booking()], [capture()], [payment()], [], [reserved])
    assert "every refund final" in violated(findings)


def test_a_reversed_refund_counts_back_in_the_ledger():
    findings = Findings()
    ledger = [capture(), {"booking_id": "bk_1", "kind": "refund", "amount": Decimal(3000)},
              {"booking_id": "bk_1", "kind": "refund_reversal", "amount": Decimal(3000)}]
    check_bookings(findings, [booking()], ledger, [payment()], [])
    assert findings.violations == []


def test_a_card_number_followed_by_more_digits_is_still_found():
    assert card_numbers("card 4242 4242 4242 4242 123 exp 2027") == ["4242424242424242"]


# --- vendor webhooks ----------------------------------------------------------------------------

def event(sequence=1, type="booking.confirmed", status="DELIVERED", vendor="ven_a", booking_id="bk_1", **extra):
    event_id = extra.pop("event_id", f"evt_{vendor}_{sequence}")
    return {"stream": f"{vendor}#{booking_id}", "sequence": Decimal(sequence), "event_id": event_id,
            "vendor_id": vendor, "booking_id": booking_id, "type": type, "status": status,
            "attempts": Decimal(1), "replays": Decimal(0), "payload": f'{{"id":"{event_id}"}}', **extra}


def receipt(ev, arrival=0, status=200, verified=True, vendor=None, timed_out=False, body=None):
    return {"vendor_id": vendor or ev["vendor_id"], "event_id": ev["event_id"], "body_id": ev["event_id"],
            "body": ev["payload"] if body is None else body, "verified": verified, "status": status,
            "arrival": arrival, "timed_out": timed_out}


def dead_letter(ev):
    return {"type": "webhook-dead", "event_id": ev["event_id"], "stream": ev["stream"],
            "sequence": int(ev["sequence"])}


def sold(status="CONFIRMED", event_seq=1, vendors=("ven_a",)):
    items = [{"listing_id": f"lst_{v}", "vendor_id": v, "quantity": Decimal(1), "dates": ["2027-01-01"]}
             for v in vendors]
    return booking(status=status, items=items, event_seq=Decimal(event_seq))


def webhook_events_violated(events, bookings, ledger=()):
    findings = Findings()
    check_webhook_events(findings, events, bookings, list(ledger))
    return violated(findings)


def deliveries_violated(events, receipts, dead_letters=(), bad=None):
    findings = Findings()
    check_webhook_deliveries(findings, events, receipts, list(dead_letters), bad or {"ven_a": 0})
    return violated(findings)


def test_a_confirmed_then_cancelled_booking_with_its_events_delivered_in_order_passes():
    events = [event(1), event(2, "booking.refunded"), event(3, "booking.cancelled")]
    refund = {"booking_id": "bk_1", "kind": "refund", "amount": Decimal(500), "reason": "Goodwill"}
    back = {"booking_id": "bk_1", "kind": "refund", "amount": Decimal(9500), "reason": "cancellation"}
    findings = Findings()
    check_webhook_events(findings, events, [sold("CANCELLED", 3)], [capture(), refund, back])
    check_webhook_deliveries(findings, events, [receipt(e, i) for i, e in enumerate(events)], [], {"ven_a": 0})
    assert findings.violations == [] and findings.checked


def test_an_event_left_pending_is_caught():
    assert "webhook: every event delivered, dead-lettered or skipped" in webhook_events_violated(
        [event(status="PENDING")], [sold()])


def test_a_gap_in_a_streams_sequences_is_caught():
    events = [event(1), event(3, "booking.cancelled")]
    assert "webhook: a stream's sequences are 1..n, n = the booking's event_seq" in webhook_events_violated(
        events, [sold("CANCELLED", 3)])


def test_a_booking_change_its_vendor_never_heard_of_is_caught():
    # A trip of two vendors: the second vendor's stream is missing.
    assert {"webhook: a stream's sequences are 1..n, n = the booking's event_seq",
            "webhook: each vendor hears of the booking's status"} <= webhook_events_violated(
        [event(1)], [sold(vendors=("ven_a", "ven_b"))])


def test_an_event_of_the_wrong_status_is_caught():
    assert {"webhook: each vendor hears of the booking's status",
            "webhook: status events tell the booking's story"} <= webhook_events_violated(
        [event(1, "booking.expired")], [sold("FAILED")])


def test_a_sale_announced_twice_is_caught():
    assert "webhook: status events tell the booking's story" in webhook_events_violated(
        [event(1), event(2)], [sold("CONFIRMED", 2)])


def test_a_refund_without_its_event_is_caught():
    refund = {"booking_id": "bk_1", "kind": "refund", "amount": Decimal(500), "reason": "Goodwill"}
    assert "webhook: one booking.refunded per agent refund" in webhook_events_violated(
        [event(1)], [sold()], [capture(), refund])


def test_events_of_no_booking_are_caught():
    assert "webhook: events are the booking's, for that vendor" in webhook_events_violated(
        [event(1), event(1, booking_id="bk_gone")], [sold()])


def test_a_dead_event_missing_from_the_dlq_is_caught():
    dead = event(status="DEAD")
    assert deliveries_violated([dead], []) == {"webhook: every dead event is in the DLQ"}
    assert deliveries_violated([dead], [], [dead_letter(dead)]) == set()


def test_a_dead_letter_of_an_event_delivered_and_never_replayed_is_caught():
    delivered = event()
    assert "webhook: a dead letter is of an event given up (or replayed since)" in deliveries_violated(
        [delivered], [receipt(delivered)], [dead_letter(delivered)])
    replayed = event(replays=Decimal(1))
    assert deliveries_violated([replayed], [receipt(replayed)], [dead_letter(replayed)]) == set()


def test_a_delivered_event_its_receiver_never_accepted_is_caught():
    ev = event()
    name = "webhook: every delivered event was received, verified, as stored"
    assert name in deliveries_violated([ev], [])
    assert name in deliveries_violated([ev], [receipt(ev, status=500)])
    assert name in deliveries_violated([ev], [receipt(ev, timed_out=True)])  # the service never saw that 200
    assert name in deliveries_violated([ev], [receipt(ev, body='{"id":"other"}')])


def test_a_bad_signature_is_caught():
    ev = event()
    assert "webhook: no receiver saw a bad signature" in deliveries_violated(
        [ev], [receipt(ev), receipt(ev, 1, status=400, verified=False)], bad={"ven_a": 1})


def test_an_event_sent_to_another_vendor_is_caught():
    ev = event()
    assert "webhook: a receiver gets only its vendor's events" in deliveries_violated(
        [ev], [receipt(ev), receipt(ev, 1, vendor="ven_b")], bad={"ven_a": 0, "ven_b": 0})


def test_a_later_event_arriving_first_is_caught_unless_replayed():
    first, second = event(1), event(2, "booking.cancelled")
    name = "webhook: a stream's events first arrive in sequence order"
    # The first delivery of #2 arrived before #1 was ever tried; later retries do not count.
    assert name in deliveries_violated([first, second], [receipt(second, 0), receipt(first, 1), receipt(second, 2)])
    # #1 failed at its first try and then arrived again: its first arrival is what counts.
    assert deliveries_violated([first, second], [receipt(first, 0, status=503), receipt(second, 2),
                                                 receipt(first, 1)]) == set()
    # A replayed event is sent again after later ones, on purpose.
    replayed = {**first, "replays": Decimal(1)}
    assert deliveries_violated([replayed, second], [receipt(second, 0), receipt(replayed, 1)]) == set()


def test_a_replay_that_did_not_send_an_event_of_its_range_again_is_caught():
    replay = {"vendor_id": "ven_a", "since": "2027-01-01T10:00:00.000Z", "until": "2027-01-01T11:00:00.000Z",
              "mark": 5}
    inside = event(1, created_at="2027-01-01T10:30:00.000Z")
    before = event(2, "booking.cancelled", created_at="2027-01-01T09:00:00.000Z")
    dead = event(3, "booking.refunded", status="DEAD", created_at="2027-01-01T10:40:00.000Z")
    other = event(1, vendor="ven_b", created_at="2027-01-01T10:30:00.000Z")
    name = "webhook: a replay sends every delivered event of its range again"

    def replay_violated(receipts):
        findings = Findings()
        check_webhook_replays(findings, [inside, before, dead, other], receipts, [replay])
        return violated(findings)
    # Only the event of the vendor's range that was delivered in the end must come again.
    assert replay_violated([receipt(inside, 0), receipt(before, 1), receipt(inside, 6)]) == set()
    assert replay_violated([receipt(inside, 0), receipt(before, 1)]) == {name}
    assert replay_violated([receipt(inside, 0), receipt(inside, 6, status=500)]) == {name}
