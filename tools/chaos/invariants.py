"""What must hold at the end of a fault-injection run, checked on the tables themselves.

Read with plain scans: this is an auditor, not a request path (DESIGN.md "Testing").
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator

from chalicelib.booking.payments.port import looks_like_card_number

# Where units are, by the booking's stored status (units move in the same transaction as it).
HOLDS_UNITS = {"HELD", "CONFIRMING"}
SELLS_UNITS = {"CONFIRMED", "CANCELLING"}
UNSETTLED = {"CONFIRMING", "CANCELLING"}
SETTLED = {"CONFIRMED", "CANCELLED", "EXPIRED", "FAILED"}
# Digit groups split by one space or dash, not glued to a longer token (ids, UUIDs); every run
# of whole groups holding 13-19 digits is a candidate ("4242 4242 4242 4242 2027" holds a card).
# (A UUID whose first groups are all digits, "29593375-5418-4831-ac60-...", is an id: a run
# followed by a dash and more of the token is glued to it too.)
_DIGITS = re.compile(r"(?<![0-9A-Za-z_])(?<![0-9A-Za-z_]-)[0-9]+(?:[ \-][0-9]+)*(?![0-9A-Za-z])(?!-[0-9A-Za-z])")
# Epoch milliseconds (Powertools' metric timestamps) are 13 digits and pass Luhn one time in ten;
# a number within a year of now is a timestamp of this run, not a card.
_YEAR_MS = 366 * 24 * 3600 * 1000


@dataclass
class Findings:
    checked: Counter = field(default_factory=Counter)  # check -> how many things it looked at
    violations: list[tuple[str, str]] = field(default_factory=list)  # (check, what)

    def check(self, name: str, ok: bool, what: str) -> None:
        self.checked[name] += 1
        if not ok:
            self.violations.append((name, what))


def scan(table: Any) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.scan(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _n(value: Any) -> int:
    return int(value) if isinstance(value, (int, Decimal)) else 0


def check_inventory(findings: Findings, days: Iterable[dict], bookings: list[dict]) -> None:
    """Per (listing, date): 0 <= held, sold; held + sold <= capacity; held and sold are exactly
    the units of the bookings that hold and sold them."""
    expected_held: Counter = Counter()
    expected_sold: Counter = Counter()
    for booking in bookings:
        for item in booking.get("items", []):
            for day in item.get("dates", []):
                key = (item["listing_id"], day)
                if booking["status"] in HOLDS_UNITS:
                    expected_held[key] += _n(item["quantity"])
                elif booking["status"] in SELLS_UNITS:
                    expected_sold[key] += _n(item["quantity"])
    seen = set()
    for day in days:
        key = (day["listing_id"], day["date"])
        seen.add(key)
        held, sold, capacity = _n(day.get("held")), _n(day.get("sold")), _n(day.get("capacity"))
        name = f"{key[0]} {key[1]}"
        findings.check("0 <= held, sold", held >= 0 and sold >= 0, f"{name}: held {held}, sold {sold}")
        findings.check("held + sold <= capacity", held + sold <= capacity,
                       f"{name}: held {held} + sold {sold} > capacity {capacity}")
        findings.check("held = units of live holds", held == expected_held[key],
                       f"{name}: held {held}, live holds have {expected_held[key]}")
        findings.check("sold = units of confirmed bookings", sold == expected_sold[key],
                       f"{name}: sold {sold}, confirmed bookings have {expected_sold[key]}")
        findings.check("available = capacity - held - sold",
                       _n(day.get("available")) == capacity - held - sold, f"{name}: available {day.get('available')}")
    for key in (set(expected_held) | set(expected_sold)) - seen:
        findings.check("held = units of live holds", False, f"{key}: booked units on a date with no availability row")


def check_bookings(findings: Findings, bookings: list[dict], ledger: list[dict], payments: list[dict],
                   active_holds: list[dict], refunds: list[dict] | None = None) -> None:
    entries = defaultdict(list)
    for entry in ledger:
        entries[entry["booking_id"]].append(entry)
    by_booking = defaultdict(list)
    known = {b["booking_id"] for b in bookings}
    for payment in payments:
        booking_id = (payment.get("metadata") or {}).get("booking_id")
        findings.check("provider: every payment belongs to a booking", booking_id in known,
                       f"payment {payment.get('payment_id')} names booking {booking_id}")
        by_booking[booking_id].append(payment)
    open_refunds = defaultdict(list)
    for record in refunds or []:
        findings.check("every refund final", record["status"] in ("SUCCEEDED", "FAILED", "PENDING"),
                       f"refund {record['refund_key'][:8]} of {record['booking_id']} is still {record['status']}")
        open_refunds[record["booking_id"]].append(record)
    held_per_traveler: Counter = Counter()
    for booking in bookings:
        booking_id, status = booking["booking_id"], booking["status"]
        if status == "HELD":
            held_per_traveler[booking["traveler_id"]] += 1
        name = f"{booking.get('reference')} ({booking_id}, {status})"
        findings.check("final state", status not in UNSETTLED, f"{name} is still {status}")
        mine = entries[booking_id]
        captures = [e for e in mine if e["kind"] == "capture"]
        captured = sum(_n(e["amount"]) for e in captures)
        # A refund the provider later failed is reversed by a refund_reversal entry.
        refunds_sum = sum(_n(e["amount"]) for e in mine if e["kind"] == "refund") \
            - sum(_n(e["amount"]) for e in mine if e["kind"] == "refund_reversal")
        booked_captured, booked_refunded = _n(booking.get("captured_amount")), _n(booking.get("refunded_amount"))
        findings.check("captured - refunded = ledger", (booked_captured, booked_refunded) == (captured, refunds_sum),
                       f"{name}: booking says {booked_captured} - {booked_refunded}, ledger says {captured} - {refunds_sum}")
        findings.check("at most one capture", len(captures) <= 1, f"{name}: {len(captures)} captures in the ledger")
        findings.check("refunds <= capture", 0 <= refunds_sum <= captured, f"{name}: refunded {refunds_sum} of {captured}")
        if booked_captured:
            findings.check("refund room = captured - refunded", not booking.get("refunds_in_flight") and
                           _n(booking.get("refund_room")) == booked_captured - booked_refunded,
                           f"{name}: room {booking.get('refund_room')}, in flight {booking.get('refunds_in_flight')}")
        at_provider = by_booking[booking_id]
        captured_there = [p for p in at_provider if p["status"] == "captured"]
        open_there = [p for p in at_provider if p["status"] == "authorized"]
        findings.check("provider: at most one capture", len(captured_there) <= 1,
                       f"{name}: {len(captured_there)} captured payments at the provider")
        if status != "CONFIRMING":
            findings.check("provider: no open authorization on a settled booking", not open_there,
                           f"{name}: open authorizations {[p['payment_id'] for p in open_there]}")
        findings.check("provider: no capture on an unconfirmed booking",
                       not captured_there or (status in SELLS_UNITS | {"CANCELLED"} and booked_captured > 0),
                       f"{name}: captured at the provider, never confirmed")
        if status in SELLS_UNITS or (status == "CANCELLED" and booked_captured):
            matches = [p for p in captured_there if p["payment_id"] == booking.get("payment_id")]
            p = matches[0] if matches else {}
            findings.check("provider: amounts agree",
                           (_n(p.get("captured_amount")), _n(p.get("refunded_amount")))
                           == (booked_captured, booked_refunded) and len(captured_there) == 1,
                           f"{name}: provider {[(x['payment_id'], x['status'], x.get('captured_amount'), x.get('refunded_amount')) for x in at_provider]}; "
                           f"booking {booking.get('payment_id')} captured {booked_captured} refunded {booked_refunded}")
    counters = {row["traveler_id"]: _n(row.get("count")) for row in active_holds}
    for traveler in set(counters) | set(held_per_traveler):
        findings.check("active-holds counter = HELD bookings", counters.get(traveler, 0) == held_per_traveler[traveler],
                       f"traveler {traveler}: counter {counters.get(traveler, 0)}, "
                       f"{held_per_traveler[traveler]} HELD bookings")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, set, tuple)):
        for v in value:
            yield from _strings(v)


def card_numbers(text: str) -> list[str]:
    found = []
    for match in _DIGITS.finditer(text):
        groups = re.split(r"[ \-]", match.group(0))
        for i in range(len(groups)):
            for j in range(i + 1, len(groups) + 1):
                window = groups[i:j]
                candidate = "".join(window)
                if len(candidate) > 19:
                    break
                if len(window) > 1 and any(len(g) < 3 for g in window):
                    continue  # cards are written in groups of 3-6 digits
                if any(_timestamp(g) for g in window):
                    continue
                if len(candidate) >= 13 and looks_like_card_number(candidate):
                    found.append(candidate)
    return found


def _timestamp(group: str) -> bool:
    """Epoch milliseconds within a year of now: a timestamp of this run, not a card."""
    return len(group) == 13 and abs(int(group) - time.time() * 1000) < _YEAR_MS


def check_card_numbers(findings: Findings, tables: dict[str, list[dict]], logs: list[Path]) -> None:
    for table, items in tables.items():
        for item in items:
            for text in _strings(item):
                found = card_numbers(text)
                findings.check("no card number in the tables", not found, f"{table}: {found} in {json.dumps(item, default=str)[:200]}")
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found = card_numbers(line)
            findings.check("no card number in the logs", not found, f"{path.name}:{number}: {found}")
