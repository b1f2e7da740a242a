"""The fault-injection run's auditor must see each kind of damage: a checker that passes
everything would make the run prove nothing."""
from __future__ import annotations

import time
from decimal import Decimal

from tools.chaos.invariants import Findings, card_numbers, check_bookings, check_card_numbers, check_inventory


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
