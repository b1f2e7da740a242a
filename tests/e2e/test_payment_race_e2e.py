"""A double click on "pay" over HTTP, against the local stack `make run` starts.

For each of 20 bookings, two identical `POST /bookings/{id}/payment` (same body, same
Idempotency-Key) leave at the same instant (two threads released by a barrier). The contract
(API.md, "Conventions" and "Holds and bookings"): the same key with the same body is the same
request, so both answers are 202 with the same body, or one is 202 and the other
409 REQUEST_IN_PROGRESS, whose retry with the same key is then the 202 again. Every booking must
then reach CONFIRMED, and the local payment provider (its DynamoDB table in the emulator) must
show each booking's kept payment captured: 20 captures, no kept authorization voided, nothing
left authorized.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests
from boto3.dynamodb.types import TypeDeserializer

from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day

BOOKINGS = 20
RACE_TIMEOUT = 60  # seconds, per request of a race
CONFIRM_SECONDS = 60  # for all the bookings together
SETTLE_SECONDS = 15  # for the provider's ledger to show nothing authorized once all are CONFIRMED
TERMINAL = {"CONFIRMED", "FAILED", "EXPIRED", "CANCELLED"}


@dataclass
class Race:
    booking_id: str
    reference: str
    amount: int
    key: str
    headers: dict[str, str]
    answers: list[tuple[int, dict, str]] = field(default_factory=list)  # (status, json, raw text)
    retry: tuple[int, dict, str] | None = None
    spans: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered), monotonic
    problems: list[str] = field(default_factory=list)

    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(_kind(status, body) for status, body, _ in self.answers))


def _kind(status: int, body: dict) -> str:
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    return f"{status} {code}" if code else str(status)


def _answer(response: requests.Response) -> tuple[int, dict, str]:
    try:
        body = response.json()
    except ValueError:
        body = {"unparsed": response.text[:500]}
    return response.status_code, body, response.text


def _fire_pair(stack, race: Race) -> None:
    """Two identical payment requests released together by a barrier."""
    url = stack.url(f"/bookings/{race.booking_id}/payment")
    headers = {**race.headers, "Idempotency-Key": race.key}
    barrier = threading.Barrier(2, timeout=30)
    answers: list[tuple[int, dict, str] | None] = [None, None]
    spans: list[tuple[float, float]] = [(0.0, 0.0), (0.0, 0.0)]

    def send(slot: int) -> None:
        with requests.Session() as session:  # one connection per thread, none shared
            barrier.wait()
            sent = time.monotonic()
            try:
                answers[slot] = _answer(session.post(url, json={"payment_method": "tok_visa"}, headers=headers,
                                                     timeout=RACE_TIMEOUT))
            except requests.RequestException as exc:
                answers[slot] = (0, {"exception": repr(exc)}, repr(exc))
            spans[slot] = (sent, time.monotonic())

    threads = [threading.Thread(target=send, args=(slot,), daemon=True) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_TIMEOUT + 35)
    race.answers = [a if a is not None else (0, {"exception": "no answer in time"}, "") for a in answers]
    race.spans = spans


def _judge_and_retry(stack, race: Race) -> None:
    """Both 202 with the same body, or 202 + 409 REQUEST_IN_PROGRESS and a retry that replays the 202."""
    kinds = race.kinds()
    accepted = [(body, text) for status, body, text in race.answers if status == 202]
    if kinds == ("202", "202"):
        if accepted[0][0] != accepted[1][0]:
            race.problems.append(f"two 202 with different bodies: {accepted[0][1]} | {accepted[1][1]}")
    elif kinds == ("202", "409 REQUEST_IN_PROGRESS"):
        pass
    else:
        race.problems.append(f"race answered {kinds}: " + " | ".join(text[:400] for _, _, text in race.answers))
    if any(kind == "409 REQUEST_IN_PROGRESS" for kind in kinds):
        # The retry the contract asks for: the same request again, one time.
        race.retry = _answer(stack.http.post(stack.url(f"/bookings/{race.booking_id}/payment"),
                                             json={"payment_method": "tok_visa"},
                                             headers={**race.headers, "Idempotency-Key": race.key}, timeout=TIMEOUT))
        status, body, text = race.retry
        if status != 202:
            race.problems.append(f"retry with the same key answered {_kind(status, body)}: {text[:400]}")
        elif accepted and body != accepted[0][0]:
            race.problems.append(f"retry's 202 body differs from the first 202: {text[:400]} | {accepted[0][1][:400]}")
    for status, body, _ in [*race.answers, *([race.retry] if race.retry else [])]:
        if status == 202 and body.get("status") not in ("CONFIRMING", "CONFIRMED"):
            race.problems.append(f"202 with status {body.get('status')!r}")


def _hold(stack, headers, listing_id: str, i: int) -> dict:
    response = stack.http.post(stack.url("/holds"), headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, json={
        "items": [{"listing_id": listing_id, "quantity": 1, "date": day(12)}],
        "contact": {"email": f"double-click-{i}@example.com", "name": f"Double Click {i}"}}, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    held = response.json()
    assert held["status"] == "HELD", held
    return held


def _table_names(client) -> list[str]:
    names, start = [], None
    for _ in range(20):  # bounded pagination
        page = client.list_tables(**({"ExclusiveStartTableName": start} if start else {}))
        names += page["TableNames"]
        start = page.get("LastEvaluatedTableName")
        if not start:
            return names
    raise AssertionError("ListTables did not end")


def _table(client, suffix: str) -> str:
    names = _table_names(client)
    matches = [n for n in names if n.endswith(suffix)]
    assert len(matches) == 1, (suffix, names)
    return matches[0]


def _scan(client, table: str) -> list[dict]:
    deserialize = TypeDeserializer().deserialize
    items, start = [], None
    for _ in range(200):  # bounded pagination
        page = client.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += [{k: deserialize(v) for k, v in item.items()} for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items
    raise AssertionError(f"scan of {table} did not end")


def _payments_by_booking(client, table: str, booking_ids: set[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {b: [] for b in booking_ids}
    for item in _scan(client, table):
        if not str(item.get("pk", "")).startswith("payment#"):
            continue
        booking_id = (item.get("metadata") or {}).get("booking_id")
        if booking_id in found:
            found[booking_id].append(item)
    return found


def test_double_click_pay_twenty_bookings_all_confirmed_none_voided(stack):
    vendor = stack.auth("vendor@example.com")
    travelers = [stack.new_traveler("race") for _ in range(2)]
    listing = create_listing(stack, vendor, kind="event", capacity=BOOKINGS * 2, price=4500, city="LIS")

    # Hold, then race the payment, one booking at a time, alternating two fresh travelers: a
    # paid booking no longer counts as an active hold, so the 5-holds limit is never near.
    races: list[Race] = []
    for i in range(BOOKINGS):
        headers = travelers[i % len(travelers)]
        held = _hold(stack, headers, listing, i)
        race = Race(held["booking_id"], held["reference"], held["amount"]["amount"], str(uuid.uuid4()), headers)
        _fire_pair(stack, race)
        _judge_and_retry(stack, race)
        races.append(race)

    # Every booking settles: poll until all are terminal, 60 s for all of them together.
    states: dict[str, dict] = {}
    deadline = time.monotonic() + CONFIRM_SECONDS
    for _ in range(10_000):
        for race in races:
            if states.get(race.booking_id, {}).get("status") in TERMINAL:
                continue
            response = stack.http.get(stack.url(f"/bookings/{race.booking_id}"), headers=race.headers, timeout=TIMEOUT)
            states[race.booking_id] = response.json() if response.status_code == 200 else {
                "status": f"HTTP {response.status_code}", "body": response.text[:300]}
        if all(states[r.booking_id].get("status") in TERMINAL for r in races) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    statuses = Counter(states[r.booking_id].get("status") for r in races)

    # The provider's own record, read from the emulator's DynamoDB.
    dynamodb = stack.aws_client("dynamodb")
    payments_table = _table(dynamodb, "local_payments")
    bookings_table = payments_table[:-len("local_payments")] + "bookings"  # the same stage prefix
    assert bookings_table in _table_names(dynamodb), bookings_table
    ids = {r.booking_id for r in races}
    kept: dict[str, str | None] = {}
    for race in races:
        item = dynamodb.get_item(TableName=bookings_table, Key={"booking_id": {"S": race.booking_id}},
                                 ConsistentRead=True).get("Item", {})
        kept[race.booking_id] = item.get("payment_id", {}).get("S")
    payments = _payments_by_booking(dynamodb, payments_table, ids)
    settle_deadline = time.monotonic() + SETTLE_SECONDS
    for _ in range(100):  # unkept attempts are voided right after CONFIRMED: give that a moment
        if not any(p["status"] == "authorized" for ps in payments.values() for p in ps) \
                or time.monotonic() > settle_deadline:
            break
        time.sleep(0.5)
        payments = _payments_by_booking(dynamodb, payments_table, ids)

    all_payments = [p for ps in payments.values() for p in ps]
    provider_states = Counter(p["status"] for p in all_payments)
    captures = provider_states["captured"]
    kept_voided = [b for b, pid in kept.items()
                   if pid and any(p["payment_id"] == pid and p["status"] == "voided" for p in payments[b])]
    kept_not_captured = {b: next((p["status"] for p in payments[b] if p["payment_id"] == pid), "missing")
                         for b, pid in kept.items()
                         if not pid or not any(p["payment_id"] == pid and p["status"] == "captured" for p in payments[b])}
    left_authorized = [p["payment_id"] for p in all_payments if p["status"] == "authorized"]
    wrong_captured_amount = {r.booking_id: (states[r.booking_id].get("captured_amount"), r.amount) for r in races
                             if states[r.booking_id].get("status") == "CONFIRMED"
                             and (states[r.booking_id].get("captured_amount") or {}).get("amount") != r.amount}
    pairs_202 = sum(r.kinds() == ("202", "202") for r in races)
    retries_409 = sum(r.retry is not None for r in races)
    retries_ok = sum(r.retry is not None and r.retry[0] == 202 for r in races)
    race_kinds = Counter(r.kinds() for r in races)
    # Both requests in flight at once (each sent before the other was answered): a real race.
    overlapped = sum(max(a[0], b[0]) < min(a[1], b[1]) for a, b in (r.spans for r in races))
    gaps_ms = sorted(round(abs(a[0] - b[0]) * 1000, 1) for a, b in (r.spans for r in races))

    print(f"\npayment race e2e: bookings={len(races)} confirmed={statuses['CONFIRMED']} "
          f"overlapping_pairs={overlapped} max_send_gap_ms={gaps_ms[-1]} "
          f"202_pairs={pairs_202} 409_retries={retries_409} (retries_202={retries_ok}) "
          f"captures={captures} voids_of_kept_authorizations={len(kept_voided)} "
          f"payments_at_provider={len(all_payments)} provider_states={dict(provider_states)} "
          f"left_authorized={len(left_authorized)} booking_states={dict(statuses)} "
          f"race_answers={ {' + '.join(k): n for k, n in race_kinds.items()} }")
    for race in races:
        if race.problems or states[race.booking_id].get("status") != "CONFIRMED" or race.booking_id in kept_not_captured:
            booking = states[race.booking_id]
            print(f"  {race.booking_id} ({race.reference}): answers={race.kinds()} "
                  f"retry={_kind(*race.retry[:2]) if race.retry else None} status={booking.get('status')} "
                  f"kept_payment={kept[race.booking_id]} provider="
                  f"{[(p['payment_id'], p['status']) for p in payments[race.booking_id]]} problems={race.problems} "
                  f"timeline={[(t.get('status') or t.get('event'), t.get('note')) for t in booking.get('timeline', [])]}")

    assert not [r.problems for r in races if r.problems], [(r.booking_id, r.problems) for r in races if r.problems]
    assert statuses == Counter({"CONFIRMED": BOOKINGS}), dict(statuses)
    assert captures == BOOKINGS, dict(provider_states)
    assert kept_voided == [], kept_voided
    assert kept_not_captured == {}, kept_not_captured
    assert left_authorized == [], left_authorized
    assert wrong_captured_amount == {}, wrong_captured_amount
