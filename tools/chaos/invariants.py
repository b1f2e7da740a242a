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
    """Epoch milliseconds within a year of now: a timestamp of this run, not a card. So are
    epoch seconds zero-padded to sort as text (the waitlist's line rank "0001796120051.350678#wl_..."
    was found by the run passing Luhn); no card number starts with 0."""
    if len(group) == 13 and abs(int(group) - time.time() * 1000) < _YEAR_MS:
        return True
    return group.startswith("0") and abs(int(group) - time.time()) < _YEAR_MS / 1000


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


# --- vendor webhooks ---------------------------------------------------------------------------

WEBHOOK_FINAL = {"DELIVERED", "DEAD", "SKIPPED"}
# The status a booking ends in, and the event its vendors hear of it by (booking.domain.VENDOR_EVENTS).
EVENT_OF_STATUS = {"CONFIRMED": "booking.confirmed", "CANCELLED": "booking.cancelled",
                   "EXPIRED": "booking.expired", "FAILED": "booking.failed"}
# The status events a booking's vendors may hear, in order, for each final status: a hold that
# ends, or a sale and its cancellation. Refunds (booking.refunded) come in between, not counted.
STATUS_STORIES = {"CONFIRMED": [("booking.confirmed",)],
                  "CANCELLED": [("booking.cancelled",), ("booking.confirmed", "booking.cancelled")],
                  "EXPIRED": [("booking.expired",)], "FAILED": [("booking.failed",)]}


def _event_name(event: dict) -> str:
    return f"{event.get('event_id')} ({event.get('stream')} #{_n(event.get('sequence'))}, {event.get('type')}, " \
           f"{event.get('status')})"


def check_webhook_events(findings: Findings, events: list[dict], bookings: list[dict],
                         ledger: list[dict]) -> None:
    """The outbox agrees with the bookings: every event final; per (vendor, booking) stream the
    sequences are 1..n with n the booking's event_seq; each vendor of a booking in a status
    vendors hear of has the event of that status, and its status events tell the booking's
    story; one booking.refunded per agent refund in the ledger."""
    streams: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        findings.check("webhook: every event delivered, dead-lettered or skipped", event.get("status") in WEBHOOK_FINAL,
                       f"{_event_name(event)} is still {event.get('status')}: attempts {event.get('attempts')}, "
                       f"due_at {event.get('due_at')}, lease_until {event.get('lease_until')}, "
                       f"last_status {event.get('last_status')}, last_error {event.get('last_error')!r}")
        streams[event["stream"]].append(event)
    by_id = {b["booking_id"]: b for b in bookings}
    agent_refunds = Counter(e["booking_id"] for e in ledger
                            if e.get("kind") == "refund" and e.get("reason") != "cancellation")
    seen: set[str] = set()
    for booking_id, booking in by_id.items():
        status, count = booking["status"], _n(booking.get("event_seq"))
        name = f"{booking.get('reference')} ({booking_id}, {status})"
        for vendor_id in sorted({item["vendor_id"] for item in booking.get("items") or []}):
            stream = f"{vendor_id}#{booking_id}"
            seen.add(stream)
            mine = sorted(streams.get(stream, []), key=lambda e: _n(e.get("sequence")))
            sequences = [_n(e.get("sequence")) for e in mine]
            findings.check("webhook: a stream's sequences are 1..n, n = the booking's event_seq",
                           sequences == list(range(1, count + 1)),
                           f"{name}, vendor {vendor_id}: sequences {sequences}, event_seq {count}")
            findings.check("webhook: events are the booking's, for that vendor",
                           all(e.get("booking_id") == booking_id and e.get("vendor_id") == vendor_id for e in mine),
                           f"{stream}: {[(e.get('booking_id'), e.get('vendor_id')) for e in mine]}")
            types = [e.get("type") for e in mine]
            if status in EVENT_OF_STATUS:
                story = tuple(t for t in types if t != "booking.refunded")
                findings.check("webhook: each vendor hears of the booking's status", EVENT_OF_STATUS[status] in types,
                               f"{name}, vendor {vendor_id}: events {types}")
                findings.check("webhook: status events tell the booking's story", story in STATUS_STORIES[status],
                               f"{name}, vendor {vendor_id}: events {types}")
                if "booking.refunded" in types:
                    first = types.index("booking.refunded")
                    findings.check("webhook: a refund is announced after the sale",
                                   "booking.confirmed" in types[:first], f"{name}, vendor {vendor_id}: events {types}")
            elif status not in UNSETTLED:
                findings.check("webhook: no event of a booking vendors have not heard of yet", not mine,
                               f"{name}, vendor {vendor_id}: events {types}")
            findings.check("webhook: one booking.refunded per agent refund",
                           types.count("booking.refunded") == agent_refunds[booking_id],
                           f"{name}, vendor {vendor_id}: {types.count('booking.refunded')} refund events, "
                           f"{agent_refunds[booking_id]} agent refunds in the ledger")
    for stream in sorted(set(streams) - seen):
        findings.check("webhook: events are the booking's, for that vendor", False,
                       f"{stream}: {len(streams[stream])} events of no booking (or of a vendor it does not have)")


def check_webhook_deliveries(findings: Findings, events: list[dict], receipts: list[dict],
                             dead_letters: list[dict], bad_signatures: dict[str, int]) -> None:
    """What the receivers got agrees with the events. `receipts`: every request a vendor's
    receiver got ({vendor_id, event_id (the webhook-id header), body_id, body, verified, status,
    arrival (its order at that receiver), timed_out}); `dead_letters`: the bodies of the webhook
    DLQ's messages; `bad_signatures`: per vendor, requests its receiver could not verify."""
    by_id = {e["event_id"]: e for e in events}
    got: dict[str, list[dict]] = defaultdict(list)
    for receipt in receipts:
        event = by_id.get(receipt.get("event_id"))
        findings.check("webhook: a receiver gets only its vendor's events",
                       event is not None and event.get("vendor_id") == receipt.get("vendor_id"),
                       f"{receipt.get('vendor_id')}'s receiver got {receipt.get('event_id')}, an event of "
                       f"{event.get('vendor_id') if event else 'no stream'}")
        findings.check("webhook: webhook-id is the event's id", receipt.get("event_id") == receipt.get("body_id"),
                       f"webhook-id {receipt.get('event_id')}, body id {receipt.get('body_id')}")
        if event is not None:
            got[event["event_id"]].append(receipt)
    for vendor_id, bad in sorted(bad_signatures.items()):
        unverified = [r.get("event_id") for r in receipts if r.get("vendor_id") == vendor_id and not r.get("verified")]
        findings.check("webhook: no receiver saw a bad signature", bad == 0,
                       f"{vendor_id}'s receiver could not verify {bad} request(s): {unverified[:10]}")
    dead_lettered = Counter(d.get("event_id") for d in dead_letters)
    for event in events:
        status, name = event.get("status"), _event_name(event)
        if status == "DEAD":
            findings.check("webhook: every dead event is in the DLQ", dead_lettered[event["event_id"]] > 0,
                           f"{name}: no message in the webhook DLQ (last error {event.get('last_error')!r})")
        if status == "DELIVERED":
            accepted = [r for r in got[event["event_id"]] if r.get("verified") and 200 <= _n(r.get("status")) < 300
                        and not r.get("timed_out") and r.get("body") == event.get("payload")]
            seen = [(r.get("status"), "verified" if r.get("verified") else "unverified",
                     "timed out" if r.get("timed_out") else "in time",
                     "as stored" if r.get("body") == event.get("payload") else "another body")
                    for r in got[event["event_id"]]]
            findings.check("webhook: every delivered event was received, verified, as stored", bool(accepted),
                           f"{name}: receipts {seen}")
    for dead in dead_letters:
        event = by_id.get(dead.get("event_id"))
        findings.check("webhook: a dead letter is of an event given up (or replayed since)",
                       event is not None and (event.get("status") == "DEAD" or _n(event.get("replays")) > 0)
                       and dead.get("stream") == event.get("stream")
                       and dead.get("sequence") == _n(event.get("sequence")),
                       f"DLQ message {dead.get('event_id')} ({dead.get('stream')} #{dead.get('sequence')}): event "
                       f"{_event_name(event) if event else 'not found'}")
    # Per stream, the events delivered and never replayed arrived for the first time in sequence
    # order (a replayed one is sent again, after later events, on purpose).
    streams: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for event in events:
        arrivals = [_n(r.get("arrival")) for r in got[event["event_id"]]]
        if event.get("status") == "DELIVERED" and not _n(event.get("replays")) and arrivals:
            streams[event["stream"]].append((_n(event.get("sequence")), min(arrivals), event["event_id"]))
    for stream, firsts in sorted(streams.items()):
        firsts.sort()
        order = [arrival for _, arrival, _ in firsts]
        findings.check("webhook: a stream's events first arrive in sequence order", order == sorted(order),
                       f"{stream}: (sequence, first arrival, event) {firsts}")


def check_webhook_replays(findings: Findings, events: list[dict], receipts: list[dict],
                          replays: list[dict]) -> None:
    """A replay the service accepted (202, {since, until}) sends every event of that vendor
    created in [since, until] again: each one delivered in the end was accepted by the
    receiver after the replay was asked for (`mark`: the requests it had got before).
    An event dead-lettered in the end (its vendor's server was down again, say) is not asked for."""
    accepted: dict[str, list[int]] = defaultdict(list)
    for r in receipts:
        if r.get("verified") and 200 <= _n(r.get("status")) < 300 and not r.get("timed_out"):
            accepted[r.get("event_id")].append(_n(r.get("arrival")))
    for replay in replays:
        since, until, mark = replay.get("since") or "", replay.get("until") or "", _n(replay.get("mark"))
        for event in events:
            created = event.get("created_at") or ""
            if event.get("vendor_id") != replay.get("vendor_id") or not since <= created <= until \
                    or event.get("status") != "DELIVERED":
                continue
            findings.check("webhook: a replay sends every delivered event of its range again",
                           any(arrival >= mark for arrival in accepted[event["event_id"]]),
                           f"{_event_name(event)} created {created}, replays {event.get('replays')}: not accepted "
                           f"again after the replay of {replay.get('vendor_id')} since {since} until {until} "
                           f"(receipts at {sorted(accepted[event['event_id']])}, replay asked at {mark})")


# --- promotions ---------------------------------------------------------------------------------

# A booking in one of these statuses holds a use of its code; so does one CANCELLED after it was
# confirmed (it was sold with the discount). One that ended unconfirmed (HELD -> EXPIRED or
# CANCELLED, CONFIRMING -> FAILED) gave its use back in the transaction that ended it.
KEEPS_PROMOTION = {"HELD", "CONFIRMING", "CONFIRMED", "CANCELLING"}


def was_confirmed(booking: dict) -> bool:
    """Its timeline shows it entered CONFIRMED (the timeline is appended to in the transaction
    of every status change)."""
    return any((entry or {}).get("status") == "CONFIRMED" for entry in booking.get("timeline") or [])


def keeps_promotion_use(booking: dict) -> bool:
    status = booking.get("status")
    return status in KEEPS_PROMOTION or (status == "CANCELLED" and was_confirmed(booking))


def _booking_name(booking: dict) -> str:
    return f"{booking.get('reference')} ({booking.get('booking_id')}, {booking.get('status')})"


def check_promotions(findings: Findings, promotions: list[dict], uses: list[dict], bookings: list[dict]) -> None:
    """Each code's `uses` is exactly the bookings that keep a use of it, within 0..max_uses; each
    traveler's `PromotionUse.uses` is exactly their such bookings, within max_uses_per_traveler;
    every code a booking names exists."""
    by_code = {p["code"]: p for p in promotions}
    expected: Counter = Counter()
    expected_per_traveler: Counter = Counter()
    keeping: dict[str, list[str]] = defaultdict(list)
    for booking in bookings:
        code = booking.get("promo_code")
        if not code:
            continue
        findings.check("promotion: a booking's code exists", code in by_code,
                       f"{_booking_name(booking)} names code {code}, which no promotion has")
        if keeps_promotion_use(booking):
            expected[code] += 1
            expected_per_traveler[(code, booking["traveler_id"])] += 1
            keeping[code].append(_booking_name(booking))
    for code, promotion in sorted(by_code.items()):
        stored, maximum = _n(promotion.get("uses")), _n(promotion.get("max_uses"))
        findings.check("promotion: uses = bookings keeping the code", stored == expected[code],
                       f"{code}: uses {stored}, bookings keeping it {expected[code]}: {keeping[code][:10]}")
        findings.check("promotion: 0 <= uses <= max_uses", 0 <= stored <= maximum,
                       f"{code}: uses {stored}, max_uses {maximum}")
    stored_per_traveler = {(u["code"], u["traveler_id"]): _n(u.get("uses")) for u in uses}
    for key in sorted(set(stored_per_traveler) | set(expected_per_traveler)):
        code, traveler = key
        stored = stored_per_traveler.get(key, 0)
        findings.check("promotion: a traveler's uses = their bookings keeping the code",
                       stored == expected_per_traveler[key],
                       f"{code}, traveler {traveler}: uses {stored}, bookings keeping it {expected_per_traveler[key]}")
        limit = _n((by_code.get(code) or {}).get("max_uses_per_traveler"))
        findings.check("promotion: 0 <= a traveler's uses <= max_uses_per_traveler", 0 <= stored <= limit,
                       f"{code}, traveler {traveler}: uses {stored}, max_uses_per_traveler {limit}")


def check_booking_amounts(findings: Findings, bookings: list[dict]) -> None:
    """What a booking charges is its items' amounts less its discount; the discount is >= 0,
    comes with a code, and is shared by the items (each share within its item); what was
    captured never exceeds what was charged, nor what is refunded what was captured."""
    for booking in bookings:
        name = _booking_name(booking)
        items = booking.get("items") or []
        discount = _n(booking.get("discount"))
        amount = _n(booking.get("amount"))
        listed = sum(_n(item.get("amount")) for item in items)
        shares = [_n(item.get("discount")) for item in items]
        findings.check("booking: amount = items' amounts - discount", amount == listed - discount,
                       f"{name}: amount {amount}, items {listed}, discount {discount}")
        findings.check("booking: 0 <= discount, with a code, shared by its items",
                       discount >= 0 and (discount == 0 or bool(booking.get("promo_code")))
                       and sum(shares) == discount
                       and all(0 <= s <= _n(item.get("amount")) for s, item in zip(shares, items)),
                       f"{name}: discount {discount}, code {booking.get('promo_code')}, item shares {shares} "
                       f"of {[_n(i.get('amount')) for i in items]}")
        captured, refunded = _n(booking.get("captured_amount")), _n(booking.get("refunded_amount"))
        findings.check("booking: 0 <= captured - refunded, captured <= amount charged",
                       0 <= refunded <= captured <= amount,
                       f"{name}: charged {amount}, captured {captured}, refunded {refunded}")


# --- the waitlist -------------------------------------------------------------------------------

WAITLIST_ACTIVE = {"WAITING", "OFFERING"}
# The Idempotency-Key of an entry's automatic hold (waitlist.offers.hold_key), as the holds route
# stores it (core.idempotency.record_key("holds", traveler, key)).
_WAITLIST_HOLD_KEY = re.compile(r"^holds#(?P<traveler>[^#]+)#waitlist-(?P<entry>wl_[0-9a-f]+)-(?P<offer>[0-9a-f]+)$")


def waitlist_holds(idempotency: Iterable[dict]) -> dict[str, list[dict]]:
    """Entry id -> the holds placed with its key: {booking_id, traveler_id, offer_key}."""
    holds: dict[str, list[dict]] = defaultdict(list)
    for record in idempotency:
        match = _WAITLIST_HOLD_KEY.match(str(record.get("key", "")))
        if not match or _n(record.get("response_status")) != 201:
            continue
        try:
            body = json.loads(record.get("response_body") or "null")
        except ValueError:
            body = None
        booking_id = body.get("booking_id") if isinstance(body, dict) else None
        holds[match["entry"]].append({"booking_id": booking_id, "traveler_id": match["traveler"],
                                      "offer_key": match["offer"]})
    return holds


def _epoch(iso: Any) -> float | None:
    from datetime import datetime, timezone
    try:
        moment = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _entry_name(entry: dict) -> str:
    when = entry.get("date") or f"{entry.get('check_in')}/{entry.get('check_out')}"
    return (f"{entry.get('entry_id')} ({entry.get('status')}, traveler {entry.get('traveler_id')}, "
            f"{entry.get('listing_id')} {when} x{_n(entry.get('quantity'))})")


def _slot_of(entry: dict) -> str:
    from chalicelib.waitlist.domain import Wanted, slot

    return slot(entry["listing_id"], Wanted(_n(entry.get("quantity")), tuple(entry.get("dates") or ()),
                                            date=entry.get("date"), check_in=entry.get("check_in"),
                                            check_out=entry.get("check_out")))


def check_waitlist_served(findings: Findings, entries: list[dict], days: Iterable[dict]) -> None:
    """After settling (the sweep found nothing more to offer, no hold is live, no traveler is at a
    hold limit), no WAITING entry fits the units free on its dates: it would have got them."""
    available = {(d["listing_id"], d["date"]): _n(d.get("available")) for d in days}
    for entry in entries:
        if entry.get("status") != "WAITING":
            continue
        free = {day: available.get((entry["listing_id"], day), 0) for day in entry.get("dates") or []}
        findings.check("waitlist: no WAITING entry fits the units free at the end",
                       not free or any(n < _n(entry.get("quantity")) for n in free.values()),
                       f"{_entry_name(entry)}: free units {free}")


def check_waitlist_cap_refusals(findings: Findings, entries: list[dict], refused: list[str], cap: int) -> None:
    """A join refused 429 for the cap of active entries: the traveler (by the email the entries
    store from their token) must have had `cap` entries at all, or the refusal was wrong."""
    created = Counter(str(e.get("traveler_email", "")).lower() for e in entries)
    for email in refused:
        findings.check("waitlist: 429 (cap of active entries) only for a traveler with that many entries",
                       created[email.lower()] >= cap,
                       f"{email} was refused 429 at the cap of {cap} active entries, and had {created[email.lower()]} "
                       f"entries in all")


def lapsed_unconfirmed(booking: dict | None) -> bool:
    """A hold that ended without being confirmed (expired, failed, cancelled while held): it
    served no one (waitlist.domain.hold_lapsed_unseen)."""
    return booking is not None and booking.get("status") in ("EXPIRED", "FAILED", "CANCELLED") \
        and not was_confirmed(booking)


def check_waitlist(findings: Findings, entries: list[dict], slots: list[dict], bookings: list[dict],
                   idempotency: list[dict]) -> None:
    """Each OFFERED entry names one booking, its traveler's, for its listing, dates and quantity,
    the one its current hold key placed. An entry gets a new key only when the hold of its old
    key lapsed before the entry was marked (waitlist.offers, a lost answer): every hold of an
    older key ended unconfirmed, so an entry is served by one booking at most. No entry that
    left the line unserved (LEFT, EXPIRED) or still WAITS has a live or confirmed booking, nor
    one placed after it left; none is left OFFERING; each traveler's active count and slots
    match their WAITING and OFFERING entries."""
    by_id = {b["booking_id"]: b for b in bookings}
    holds = waitlist_holds(idempotency)
    for entry in entries:
        entry_id, status, name = entry["entry_id"], entry.get("status"), _entry_name(entry)
        placed = holds.get(entry_id, [])
        current = {h["booking_id"] for h in placed if h["offer_key"] == entry.get("offer_key")}
        older = sorted(str(h["booking_id"]) for h in placed if h["offer_key"] != entry.get("offer_key"))
        named = entry.get("booking_id")
        findings.check("waitlist: no entry left OFFERING", status != "OFFERING",
                       f"{name}: claimed until {entry.get('claimed_until')}, updated {entry.get('updated_at')}")
        findings.check("waitlist: an entry's holds are its traveler's",
                       all(h["traveler_id"] == entry.get("traveler_id") for h in placed), f"{name}: holds {placed}")
        findings.check("waitlist: at most one booking per entry (older keys' holds lapsed unconfirmed)",
                       len(current) <= 1 and all(lapsed_unconfirmed(by_id.get(b)) and b != named for b in older),
                       f"{name}: names {named}; current key placed {sorted(map(str, current))}; older keys placed "
                       f"{[(b, by_id.get(b, {}).get('status'), was_confirmed(by_id.get(b, {}))) for b in older]}")
        if status == "OFFERED":
            booking = by_id.get(named) if named else None
            items = (booking or {}).get("items") or []
            fits = (booking is not None and booking.get("traveler_id") == entry.get("traveler_id") and len(items) == 1
                    and items[0].get("listing_id") == entry.get("listing_id")
                    and list(items[0].get("dates") or []) == list(entry.get("dates") or [])
                    and _n(items[0].get("quantity")) == _n(entry.get("quantity")))
            findings.check("waitlist: an OFFERED entry names its traveler's booking for its listing, dates, quantity",
                           fits, f"{name}: booking {named} "
                           + (f"of traveler {booking.get('traveler_id')}, items "
                              f"{[(i.get('listing_id'), i.get('dates'), _n(i.get('quantity'))) for i in items]}"
                              if booking else "not found"))
            findings.check("waitlist: an OFFERED entry's booking is the one its hold key placed",
                           current == {named}, f"{name}: names {named}, its key placed {sorted(map(str, current))}")
        else:
            unserved = sorted(map(str, current | ({named} if named else set()))) + older
            serving = [(b, by_id.get(b, {}).get("status")) for b in unserved if not lapsed_unconfirmed(by_id.get(b))]
            if status in ("LEFT", "EXPIRED"):
                left_at = float(entry.get("updated_at") or 0)
                after = [b for b in unserved if (_epoch(by_id.get(b, {}).get("created_at")) or 0) >= left_at]
                findings.check("waitlist: no LEFT/EXPIRED entry got a booking", not serving and not after,
                               f"{name}: left the line at {left_at}; live or confirmed bookings {serving}; "
                               f"placed after it left {after}")
            elif status == "WAITING":
                findings.check("waitlist: no WAITING entry has a live or confirmed booking", not serving and not named,
                               f"{name}: names {named}; live or confirmed bookings of its keys {serving}")

    active: Counter = Counter()
    active_slots: dict[tuple[str, str], str] = {}
    for entry in entries:
        if entry.get("status") in WAITLIST_ACTIVE:
            active[entry["traveler_id"]] += 1
            active_slots[(entry["traveler_id"], _slot_of(entry))] = entry["entry_id"]
    counts = {s["traveler_id"]: _n(s.get("count")) for s in slots if s.get("slot") == "active"}
    for traveler in sorted(set(counts) | set(active)):
        findings.check("waitlist: active count = WAITING + OFFERING entries", counts.get(traveler, 0) == active[traveler],
                       f"traveler {traveler}: count {counts.get(traveler, 0)}, {active[traveler]} active entries")
    stored_slots = {(s["traveler_id"], s["slot"]): s.get("entry_id") for s in slots if s.get("slot") != "active"}
    for key in sorted(set(stored_slots) | set(active_slots)):
        findings.check("waitlist: a slot for each active entry, and only those",
                       stored_slots.get(key) == active_slots.get(key),
                       f"traveler {key[0]} {key[1]}: slot names {stored_slots.get(key)}, "
                       f"active entry {active_slots.get(key)}")
