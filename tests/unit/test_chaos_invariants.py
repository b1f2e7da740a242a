"""The fault-injection run's auditor must see each kind of damage: a checker that passes
everything would make the run prove nothing."""
from __future__ import annotations

import time
from decimal import Decimal

from tools.chaos.invariants import (Findings, card_numbers, check_booking_amounts, check_bookings, check_card_numbers,
                                   check_inventory, check_promotions, check_waitlist, check_waitlist_cap_refusals,
                                   check_waitlist_served,
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


# --- promotions ---------------------------------------------------------------------------------

def promotion(code="SPRING", uses=1, max_uses=5, per_traveler=2):
    return {"code": code, "uses": Decimal(uses), "max_uses": Decimal(max_uses),
            "max_uses_per_traveler": Decimal(per_traveler)}


def promotion_use(code="SPRING", traveler="t1", uses=1):
    return {"code": code, "traveler_id": traveler, "uses": Decimal(uses)}


def discounted(status="HELD", code="SPRING", discount=1000, booking_id="bk_1", traveler="t1", timeline=(), **extra):
    items = [{"listing_id": "lst_1", "quantity": Decimal(1), "dates": ["2027-01-01"], "amount": Decimal(10000),
              "discount": Decimal(discount)}]
    return {**booking(status=status, captured=0, items=items, promo_code=code, discount=Decimal(discount),
                      amount=Decimal(10000 - discount), timeline=[{"at": "t", "status": s} for s in timeline],
                      traveler_id=traveler, **extra), "booking_id": booking_id}


def promotions_violated(promotions, uses, bookings):
    findings = Findings()
    check_promotions(findings, promotions, uses, bookings)
    return violated(findings)


def test_uses_counted_by_live_and_confirmed_bookings_pass():
    bookings = [discounted("HELD", booking_id="bk_1", timeline=["HELD"]),
                discounted("CANCELLED", booking_id="bk_2", timeline=["HELD", "CONFIRMING", "CONFIRMED", "CANCELLING",
                                                                     "CANCELLED"]),
                discounted("EXPIRED", booking_id="bk_3", timeline=["HELD", "EXPIRED"])]
    assert promotions_violated([promotion(uses=2)], [promotion_use(uses=2)], bookings) == set()


def test_a_use_not_given_back_by_an_expired_hold_is_caught():
    bookings = [discounted("EXPIRED", timeline=["HELD", "EXPIRED"])]
    assert "promotion: uses = bookings keeping the code" in promotions_violated(
        [promotion(uses=1)], [promotion_use(uses=0)], bookings)


def test_a_use_given_back_by_a_cancelled_sale_is_caught():
    bookings = [discounted("CANCELLED", timeline=["HELD", "CONFIRMING", "CONFIRMED", "CANCELLING", "CANCELLED"])]
    assert "promotion: uses = bookings keeping the code" in promotions_violated(
        [promotion(uses=0)], [promotion_use(uses=1)], bookings)


def test_a_failed_payment_keeps_no_use():
    bookings = [discounted("FAILED", timeline=["HELD", "CONFIRMING", "FAILED"])]
    assert promotions_violated([promotion(uses=0)], [promotion_use(uses=0)], bookings) == set()


def test_uses_over_the_maximum_are_caught():
    bookings = [discounted("HELD", booking_id=f"bk_{i}", traveler=f"t{i}") for i in range(3)]
    uses = [promotion_use(traveler=f"t{i}") for i in range(3)]
    assert "promotion: 0 <= uses <= max_uses" in promotions_violated([promotion(uses=3, max_uses=2)], uses, bookings)


def test_a_travelers_use_count_off_by_one_is_caught():
    assert "promotion: a traveler's uses = their bookings keeping the code" in promotions_violated(
        [promotion(uses=1)], [promotion_use(uses=2)], [discounted("HELD")])


def test_a_travelers_uses_over_their_limit_are_caught():
    bookings = [discounted("CONFIRMED", booking_id=f"bk_{i}", timeline=["CONFIRMED"]) for i in range(2)]
    assert "promotion: 0 <= a traveler's uses <= max_uses_per_traveler" in promotions_violated(
        [promotion(uses=2, per_traveler=1)], [promotion_use(uses=2)], bookings)


def test_a_booking_naming_an_unknown_code_is_caught():
    assert "promotion: a booking's code exists" in promotions_violated([], [], [discounted("HELD", code="GHOST")])


def amounts_violated(*bookings):
    findings = Findings()
    check_booking_amounts(findings, list(bookings))
    return violated(findings)


def test_a_discounted_booking_whose_amount_adds_up_passes():
    assert amounts_violated(discounted("HELD"), booking(amount=Decimal(10000), items=[
        {"listing_id": "lst_1", "quantity": Decimal(1), "dates": ["2027-01-01"], "amount": Decimal(10000)}])) == set()


def test_a_charge_that_ignores_the_discount_is_caught():
    assert "booking: amount = items' amounts - discount" in amounts_violated(
        {**discounted("HELD"), "amount": Decimal(10000)})


def test_a_negative_discount_is_caught():
    bad = discounted("HELD", discount=-500)
    assert "booking: 0 <= discount, with a code, shared by its items" in amounts_violated(bad)


def test_a_discount_without_a_code_is_caught():
    assert "booking: 0 <= discount, with a code, shared by its items" in amounts_violated(
        discounted("HELD", code=None))


def test_item_shares_that_do_not_sum_to_the_discount_are_caught():
    bad = discounted("HELD")
    bad["items"] = [{**bad["items"][0], "discount": Decimal(0)}]
    assert "booking: 0 <= discount, with a code, shared by its items" in amounts_violated(bad)


def test_a_capture_over_the_discounted_charge_is_caught():
    assert "booking: 0 <= captured - refunded, captured <= amount charged" in amounts_violated(
        {**discounted("CONFIRMED"), "captured_amount": Decimal(10000)})


def test_refunds_over_the_capture_are_caught():
    assert "booking: 0 <= captured - refunded, captured <= amount charged" in amounts_violated(
        {**discounted("CANCELLED"), "captured_amount": Decimal(9000), "refunded_amount": Decimal(9500)})


# --- the waitlist -------------------------------------------------------------------------------

ENTRY_ID = "wl_" + "a" * 20


def entry(status="OFFERED", booking_id="bk_1", entry_id=ENTRY_ID, traveler="t1", updated_at=1000.0, **extra):
    return {"entry_id": entry_id, "traveler_id": traveler, "listing_id": "lst_1", "quantity": Decimal(1),
            "dates": ["2027-01-01"], "date": "2027-01-01", "status": status, "offer_key": "beef",
            "updated_at": Decimal(str(updated_at)), **({"booking_id": booking_id} if booking_id else {}), **extra}


def hold_record(booking_id="bk_1", entry_id=ENTRY_ID, traveler="t1", offer_key="beef"):
    return {"key": f"holds#{traveler}#waitlist-{entry_id}-{offer_key}", "response_status": Decimal(201),
            "status": "COMPLETED", "response_body": f'{{"booking_id":"{booking_id}","status":"HELD"}}'}


def slots_of(*entries, count=None):
    active = [e for e in entries if e["status"] in ("WAITING", "OFFERING")]
    rows = [{"traveler_id": "t1", "slot": "active", "count": Decimal(len(active) if count is None else count)}]
    return rows + [{"traveler_id": e["traveler_id"], "slot": f"slot#{e['listing_id']}#{e['date']}",
                    "entry_id": e["entry_id"]} for e in active]


def waitlist_violated(entries, bookings, records, slots=None):
    findings = Findings()
    check_waitlist(findings, entries, slots_of(*entries) if slots is None else slots, bookings, records)
    return violated(findings)


def held(booking_id="bk_1", traveler="t1", quantity=1, listing="lst_1", created_at="2026-12-01T10:00:00Z"):
    return {**booking(status="HELD", captured=0, quantity=quantity, traveler_id=traveler, created_at=created_at),
            "booking_id": booking_id, "items": [{"listing_id": listing, "quantity": Decimal(quantity),
                                                 "dates": ["2027-01-01"]}]}


def test_an_offered_entry_with_its_hold_passes():
    assert waitlist_violated([entry()], [held()], [hold_record()]) == set()


def test_an_offered_entry_whose_booking_is_missing_is_caught():
    assert "waitlist: an OFFERED entry names its traveler's booking for its listing, dates, quantity" in \
        waitlist_violated([entry()], [], [hold_record()])


def test_an_offered_entry_whose_booking_is_another_travelers_is_caught():
    assert "waitlist: an OFFERED entry names its traveler's booking for its listing, dates, quantity" in \
        waitlist_violated([entry()], [held(traveler="t2")], [hold_record()])


def test_an_offered_entry_whose_booking_has_another_quantity_is_caught():
    assert "waitlist: an OFFERED entry names its traveler's booking for its listing, dates, quantity" in \
        waitlist_violated([entry()], [held(quantity=2)], [hold_record()])


def expired(booking_id="bk_0", created_at="2026-12-01T09:00:00Z", timeline=("HELD", "EXPIRED")):
    return {**held(booking_id, created_at=created_at), "status": "EXPIRED",
            "timeline": [{"at": "t", "status": s} for s in timeline]}


def test_an_entry_with_a_live_hold_under_an_older_key_too_is_caught():
    records = [hold_record("bk_1"), hold_record("bk_2", offer_key="cafe")]
    assert "waitlist: at most one booking per entry (older keys' holds lapsed unconfirmed)" in waitlist_violated(
        [entry()], [held("bk_1"), held("bk_2")], records)


def test_an_entry_rekeyed_after_its_hold_lapsed_unseen_passes():
    records = [hold_record("bk_1"), hold_record("bk_0", offer_key="cafe")]
    assert waitlist_violated([entry()], [held("bk_1"), expired("bk_0")], records) == set()


def test_an_older_keys_hold_that_was_confirmed_is_caught():
    records = [hold_record("bk_1"), hold_record("bk_0", offer_key="cafe")]
    sold_then_cancelled = {**expired("bk_0", timeline=("HELD", "CONFIRMING", "CONFIRMED", "CANCELLED")),
                           "status": "CANCELLED"}
    assert "waitlist: at most one booking per entry (older keys' holds lapsed unconfirmed)" in waitlist_violated(
        [entry()], [held("bk_1"), sold_then_cancelled], records)


def test_an_offered_entry_naming_a_booking_its_key_did_not_place_is_caught():
    assert "waitlist: an OFFERED entry's booking is the one its hold key placed" in waitlist_violated(
        [entry()], [held()], [])


def test_a_left_entry_that_got_a_booking_is_caught():
    left = entry("LEFT", booking_id=None, updated_at=1000.0)
    assert "waitlist: no LEFT/EXPIRED entry got a booking" in waitlist_violated([left], [held()], [hold_record()])


def test_a_waiting_entry_with_a_live_booking_is_caught():
    waiting = entry("WAITING", booking_id=None)
    assert "waitlist: no WAITING entry has a live or confirmed booking" in waitlist_violated(
        [waiting], [held()], [hold_record()])


def test_a_left_entry_whose_older_hold_lapsed_before_it_left_passes():
    left = entry("LEFT", booking_id=None, updated_at=_epoch_of("2026-12-01T10:00:00Z"))
    records = [hold_record("bk_0", offer_key="cafe")]
    assert waitlist_violated([left], [expired("bk_0", created_at="2026-12-01T09:00:00Z")], records) == set()


def test_a_left_entry_given_a_hold_after_it_left_is_caught():
    left = entry("LEFT", booking_id=None, updated_at=_epoch_of("2026-12-01T10:00:00Z"))
    records = [hold_record("bk_0")]
    assert "waitlist: no LEFT/EXPIRED entry got a booking" in waitlist_violated(
        [left], [expired("bk_0", created_at="2026-12-01T10:05:00Z")], records)


def _epoch_of(iso):
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_an_entry_left_offering_is_caught():
    assert "waitlist: no entry left OFFERING" in waitlist_violated([entry("OFFERING", booking_id=None)], [], [])


def test_an_active_count_off_by_one_is_caught():
    waiting = entry("WAITING", booking_id=None)
    assert "waitlist: active count = WAITING + OFFERING entries" in waitlist_violated(
        [waiting], [], [], slots_of(waiting, count=2))


def test_a_slot_left_behind_by_an_entry_that_left_is_caught():
    left = entry("LEFT", booking_id=None)
    slots = slots_of() + [{"traveler_id": "t1", "slot": "slot#lst_1#2027-01-01", "entry_id": ENTRY_ID}]
    assert waitlist_violated([left], [], [], slots) == {"waitlist: a slot for each active entry, and only those"}


def test_a_cap_refusal_for_a_traveler_with_few_entries_is_caught():
    findings = Findings()
    check_waitlist_cap_refusals(findings, [entry("WAITING", traveler_email="T1@example.com")], ["t1@example.com"], 10)
    assert violated(findings) == {"waitlist: 429 (cap of active entries) only for a traveler with that many entries"}


def test_a_cap_refusal_for_a_traveler_at_the_cap_passes():
    entries = [entry("WAITING", entry_id=f"wl_{i:020x}", traveler_email="t1@example.com") for i in range(10)]
    findings = Findings()
    check_waitlist_cap_refusals(findings, entries, ["t1@example.com"], 10)
    assert findings.violations == [] and findings.checked


def test_a_zero_padded_epoch_in_a_sort_key_is_not_a_card_number():
    # Found by the run: the waitlist's line rank pads join time (epoch seconds) to 20 characters.
    from chalicelib.booking.payments.port import looks_like_card_number

    second = next(t for t in range(int(time.time()), int(time.time()) + 100) if looks_like_card_number(f"{t:013d}"))
    rank = f"{second + 0.350678:020.6f}#wl_0c9b073c7954c52a83c5"  # its 13 digits pass Luhn
    assert card_numbers(rank) == []


def test_a_waiting_entry_that_fits_the_free_units_at_the_end_is_caught():
    findings = Findings()
    check_waitlist_served(findings, [entry("WAITING", booking_id=None)], [day(capacity=1)])
    assert violated(findings) == {"waitlist: no WAITING entry fits the units free at the end"}


def test_a_waiting_entry_on_a_sold_out_date_passes():
    findings = Findings()
    check_waitlist_served(findings, [entry("WAITING", booking_id=None)], [day(sold=1, capacity=1)])
    assert findings.violations == [] and findings.checked
