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
# 13-19 digits, alone or in groups of 3+ split by one space or dash ("4242 4242 4242 4242"), not
# part of a longer token: ids and UUIDs hold digit runs that pass Luhn by chance.
_DIGITS = re.compile(r"(?<![0-9A-Za-z_\-])[0-9]{3,19}(?:[ \-][0-9]{3,16}){0,4}(?![0-9A-Za-z_])")
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
                   active_holds: list[dict]) -> None:
    entries = defaultdict(list)
    for entry in ledger:
        entries[entry["booking_id"]].append(entry)
    by_booking = defaultdict(list)
    for payment in payments:
        booking_id = (payment.get("metadata") or {}).get("booking_id")
        if booking_id:
            by_booking[booking_id].append(payment)
    held_per_traveler: Counter = Counter()
    for booking in bookings:
        booking_id, status = booking["booking_id"], booking["status"]
        if status == "HELD":
            held_per_traveler[booking["traveler_id"]] += 1
        name = f"{booking.get('reference')} ({booking_id}, {status})"
        findings.check("final state", status not in UNSETTLED, f"{name} is still {status}")
        mine = entries[booking_id]
        captures = [e for e in mine if e["kind"] == "capture"]
        refunds = sum(_n(e["amount"]) for e in mine if e["kind"] == "refund")
        captured = sum(_n(e["amount"]) for e in captures)
        findings.check("captured - refunded = ledger", _n(booking.get("captured_amount")) - _n(booking.get("refunded_amount"))
                       == captured - refunds,
                       f"{name}: booking says {booking.get('captured_amount')} - {booking.get('refunded_amount')}, "
                       f"ledger says {captured} - {refunds}")
        findings.check("at most one capture", len(captures) <= 1, f"{name}: {len(captures)} captures in the ledger")
        findings.check("refunds <= capture", refunds <= captured, f"{name}: refunded {refunds} of {captured}")
        at_provider = by_booking[booking_id]
        captured_there = [p for p in at_provider if p["status"] == "captured"]
        open_there = [p for p in at_provider if p["status"] == "authorized"]
        findings.check("provider: at most one capture", len(captured_there) <= 1,
                       f"{name}: {len(captured_there)} captured payments at the provider")
        if status in SETTLED:
            findings.check("provider: no open authorization on a settled booking", not open_there,
                           f"{name}: open authorizations {[p['payment_id'] for p in open_there]}")
        findings.check("provider: no capture on an unconfirmed booking",
                       not captured_there or _n(booking.get("captured_amount")) > 0,
                       f"{name}: captured at the provider, never confirmed")
        if captured_there:
            p = captured_there[0]
            findings.check("provider: amounts agree",
                           (_n(p.get("captured_amount")), _n(p.get("refunded_amount")), p["payment_id"])
                           == (_n(booking.get("captured_amount")), _n(booking.get("refunded_amount")),
                               booking.get("payment_id")),
                           f"{name}: provider {p['payment_id']} captured {p.get('captured_amount')} refunded "
                           f"{p.get('refunded_amount')}; booking {booking.get('payment_id')} captured "
                           f"{booking.get('captured_amount')} refunded {booking.get('refunded_amount')}")
    for row in active_holds:
        findings.check("active-holds counter = HELD bookings", _n(row.get("count")) == held_per_traveler[row["traveler_id"]],
                       f"traveler {row['traveler_id']}: counter {row.get('count')}, "
                       f"{held_per_traveler[row['traveler_id']]} HELD bookings")


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
    now_ms = time.time() * 1000
    return [m.group(0) for m in _DIGITS.finditer(text) if looks_like_card_number(m.group(0))
            and not (m.group(0).isdigit() and len(m.group(0)) == 13 and abs(int(m.group(0)) - now_ms) < _YEAR_MS)]


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
