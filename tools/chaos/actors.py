"""Simulated travelers, vendors and agents: what each does, at random, over HTTP.

Each operation is one thing a user does (hold a trip, sometimes with a promotion code, pay, pay
twice at once, retry a payment whose answer was lost, reuse a key on another booking, cancel,
read, change capacity or price; join the waitlist of sold-out dates, look at it, leave it; a
vendor rotates its webhook secret, asks for a replay of recent events or reads its deliveries).
A request whose answer is lost (the connection dropped, or 5xx) is retried with the same
Idempotency-Key, as a well-behaved client does; everything is tallied by its final status.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable

import requests

TIMEOUT = 30
LOST_ANSWER_RETRIES = 4
RAW_CARD = "4242 4242 4242 4242"  # must be refused before it reaches anything (400 RAW_CARD_NUMBER)

# Payment methods, weighted: good cards, declines, a capture that fails, a raw card number.
TOKENS = (["tok_visa"] * 5 + ["tok_mastercard"] * 3 + ["tok_amex"] + ["tok_chargeDeclined"] * 2
          + ["tok_chargeDeclinedInsufficientFunds"] + ["tok_captureFails"] * 2 + [RAW_CARD])


@dataclass
class Account:
    email: str
    token: str
    vendor_id: str | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class ListingRef:
    listing_id: str
    kind: str
    vendor: int  # index into World.vendors
    capacity: int = 0  # as first put on sale (0: not told); small ones (1-2) sell out, for the waitlist

    @property
    def small(self) -> bool:
        return 0 < self.capacity <= 2


@dataclass(frozen=True)
class PromoRef:
    """A promotion code a vendor created at setup (its limits are small: codes run out)."""
    code: str
    vendor: int  # index into World.vendors
    max_uses: int
    max_uses_per_traveler: int
    listing_id: str | None = None
    kind: str | None = None


@dataclass
class World:
    """What the simulated users know, shared by every actor thread."""
    api: str
    travelers: list[Account]
    vendors: list[Account]
    agents: list[Account]
    listings: list[ListingRef]
    dates: list[str]
    bookings: dict[str, int] = field(default_factory=dict)  # booking id -> traveler index
    statuses: dict[str, str] = field(default_factory=dict)  # booking id -> status last answered
    payments: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)  # (traveler, booking, key, body)
    tally: Counter = field(default_factory=Counter)  # (operation, final status) -> count
    lost_answers: Counter = field(default_factory=Counter)  # operation -> retries after a lost answer
    server_errors: list[str] = field(default_factory=list)  # unexpected 5xx, with the request
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Vendor index -> its webhook receiver (tools.chaos.webhooks.ChaosReceiver), and a lock per
    # vendor: a vendor's admin rotates its secret one rotation at a time, storing each new one.
    receivers: dict[int, Any] = field(default_factory=dict)
    # Replays the service accepted: {vendor_id, since, until, mark}, mark = how many requests the
    # vendor's receiver had got before asking (what it gets from then on is the replay's).
    replays: list[dict[str, Any]] = field(default_factory=list)
    vendor_locks: dict[int, threading.Lock] = field(default_factory=lambda: defaultdict(threading.Lock))
    promotions: list[PromoRef] = field(default_factory=list)
    promo_refusals: Counter = field(default_factory=Counter)  # 422 PROMO_INVALID reason -> count
    promo_holds: Counter = field(default_factory=Counter)  # final status of holds that carried a code
    waitlist: dict[str, int] = field(default_factory=dict)  # entry id -> traveler index
    waitlist_statuses: dict[str, str] = field(default_factory=dict)  # entry id -> status last seen
    # The email of each traveler a join was refused 429 (at the cap of active entries): the audit
    # checks they had that many entries at all.
    waitlist_cap_refusals: list[str] = field(default_factory=list)

    def record(self, operation: str, status: int | str) -> None:
        with self.lock:
            self.tally[(operation, status)] += 1

    def own_bookings(self, traveler: int, rng: random.Random | None = None, *statuses: str) -> list[str]:
        """The traveler's bookings; mostly (4 in 5) those last seen in `statuses`, as a user acts
        on what the app shows, sometimes any (a stale screen)."""
        with self.lock:
            mine = [b for b, t in self.bookings.items() if t == traveler]
            if statuses and rng is not None and rng.random() < 0.8:
                mine = [b for b in mine if self.statuses.get(b) in statuses] or mine
            return mine


class Client:
    """One user's HTTP client: retries lost answers with the same request, as apps do."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.http = requests.Session()

    def send(self, operation: str, method: str, path: str, account: Account | None = None,
             body: Any = None, key: str | None = None) -> tuple[int | str, dict[str, Any]]:
        headers = dict(account.auth) if account else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        status: int | str = "no answer"
        data: dict[str, Any] = {}
        for attempt in range(LOST_ANSWER_RETRIES + 1):
            if attempt:
                with self.world.lock:
                    self.world.lost_answers[operation] += 1
                time.sleep(0.05 * attempt)  # Retry-After is 1 s; a short run cannot wait that long
            try:
                response = self.http.request(method, self.world.api + path, json=body, headers=headers,
                                             timeout=TIMEOUT)
            except requests.RequestException:
                self.http = requests.Session()  # the connection died with the request
                status = "no answer"
                continue
            status = response.status_code
            try:
                data = response.json()
            except ValueError:
                data = {"raw": response.text[:200]}
            if status == 409 and data.get("error", {}).get("code") == "REQUEST_IN_PROGRESS":
                continue  # our own earlier attempt is still running: ask again
            if status < 500:
                break
            if status != 503:  # 503 is a throttled dependency, answered as such; 500 is a bug
                with self.world.lock:
                    self.world.server_errors.append(f"{method} {path} -> {status} {str(data)[:300]}")
        self.world.record(operation, status)
        if isinstance(data, dict) and "booking_id" in data and "status" in data:
            with self.world.lock:
                self.world.statuses[data["booking_id"]] = data["status"]
        return status, data


# --- what users do --------------------------------------------------------------------------

def _item(rng: random.Random, world: World, listing: ListingRef) -> dict[str, Any]:
    quantity = rng.choice([1, 1, 1, 2, 2, 3])
    start = rng.randrange(len(world.dates))
    if listing.kind == "hotel":
        nights = rng.choice([1, 1, 2, 3])
        first = date.fromisoformat(world.dates[min(start, len(world.dates) - 2)])
        last = min(first + timedelta(days=nights), date.fromisoformat(world.dates[-1]))
        return {"listing_id": listing.listing_id, "quantity": quantity,
                "check_in": first.isoformat(), "check_out": last.isoformat()}
    return {"listing_id": listing.listing_id, "quantity": quantity, "date": world.dates[start]}


def _applies(promotion: PromoRef, listing: ListingRef) -> bool:
    return (promotion.vendor == listing.vendor and promotion.listing_id in (None, listing.listing_id)
            and promotion.kind in (None, listing.kind))


def promo_code(rng: random.Random, world: World, listings: list[ListingRef]) -> str:
    """A code as travelers type them, in any case: mostly one that applies to an item (spent
    ones too: 422 exhausted, per_traveler_limit), sometimes any vendor's (422 not_applicable),
    sometimes one that does not exist (422 not_found)."""
    roll = rng.random()
    if roll < 0.1 or not world.promotions:
        return rng.choice(["NOSUCHCODE", "SUMMER-" + uuid.uuid4().hex[:6], "x!"])
    fitting = [p for p in world.promotions if any(_applies(p, listing) for listing in listings)]
    # The vendor-wide codes (fewest uses) most often: they are the ones that run out.
    wide = [p for p in fitting if p.listing_id is None and p.kind is None]
    if wide and roll < 0.5:
        return rng.choice(wide).code
    code = rng.choice(fitting if fitting and roll < 0.8 else world.promotions).code
    return code.lower() if rng.random() < 0.2 else code


def hold(client: Client, rng: random.Random) -> None:
    world = client.world
    traveler = rng.randrange(len(world.travelers))
    account = world.travelers[traveler]
    size = 1 if rng.random() < 0.7 else rng.choice([2, 3])
    listings = rng.sample(world.listings, size)
    body = {"items": [_item(rng, world, listing) for listing in listings],
            "contact": {"email": account.email, "name": f"Chaos traveler {traveler}"}}
    key = uuid.uuid4().hex
    operation = "hold" if size == 1 else "hold trip"
    if rng.random() < 0.3:
        body["promo_code"] = promo_code(rng, world, listings)
        operation += " (promo code)"
    if rng.random() < 0.1:
        answers = _at_once(lambda: Client(world).send(operation + " (twice at once)", "POST", "/holds",
                                                      account, body, key), 2)
    else:
        answers = [client.send(operation, "POST", "/holds", account, body, key)]
    for status, data in answers:
        if status == 201 and "booking_id" in data:
            with world.lock:
                world.bookings[data["booking_id"]] = traveler
        if "promo_code" in body:
            error = data.get("error") if isinstance(data, dict) else None
            reason = (error or {}).get("details", {}).get("reason") if isinstance(error, dict) else None
            with world.lock:
                world.promo_holds[str(status)] += 1
                if status == 422 and isinstance(error, dict) and error.get("code") == "PROMO_INVALID":
                    world.promo_refusals[str(reason)] += 1


def pay(client: Client, rng: random.Random) -> None:
    world = client.world
    traveler = rng.randrange(len(world.travelers))
    mine = world.own_bookings(traveler, rng, "HELD")
    if not mine:
        return hold(client, rng)
    account = world.travelers[traveler]
    booking = rng.choice(mine)
    body = {"payment_method": rng.choice(TOKENS)}
    key = uuid.uuid4().hex
    roll = rng.random()
    if roll < 0.08:
        # A key this traveler used on another booking.
        with world.lock:
            used = [k for t, b, k, _ in world.payments if t == traveler and b != booking]
        if used:
            key = rng.choice(used)
            client.send("pay (key of another booking)", "POST", f"/bookings/{booking}/payment", account, body, key)
            return
    with world.lock:
        world.payments.append((traveler, booking, key, body))
    if roll < 0.2:
        _at_once(lambda: Client(world).send("pay (twice at once)", "POST", f"/bookings/{booking}/payment",
                                            account, body, key), 2)
    else:
        client.send("pay", "POST", f"/bookings/{booking}/payment", account, body, key)


def retry_payment(client: Client, rng: random.Random) -> None:
    """The same payment request again, later: the app never saw the first answer."""
    world = client.world
    with world.lock:
        if not world.payments:
            return None
        traveler, booking, key, body = rng.choice(world.payments)
    client.send("pay (retry of an earlier request)", "POST", f"/bookings/{booking}/payment",
                world.travelers[traveler], body, key)


def cancel(client: Client, rng: random.Random) -> None:
    world = client.world
    if rng.random() < 0.2 and world.agents:
        with world.lock:
            if not world.bookings:
                return None
            booking = rng.choice(list(world.bookings))
        client.send("cancel (agent)", "POST", f"/bookings/{booking}/cancel", rng.choice(world.agents), {})
        return None
    traveler = rng.randrange(len(world.travelers))
    mine = world.own_bookings(traveler, rng, "HELD", "CONFIRMED")
    if mine:
        booking = rng.choice(mine)
        if rng.random() < 0.1:
            _at_once(lambda: Client(world).send("cancel (twice at once)", "POST", f"/bookings/{booking}/cancel",
                                                world.travelers[traveler], {}), 2)
        else:
            client.send("cancel", "POST", f"/bookings/{booking}/cancel", world.travelers[traveler], {})


def refund(client: Client, rng: random.Random) -> None:
    """An agent refunds part of a paid booking: sometimes the same request twice at once,
    sometimes three agents at once on the same booking."""
    world = client.world
    with world.lock:
        paid = [b for b, status in world.statuses.items() if status in ("CONFIRMED", "CANCELLED", "CANCELLING")]
    if not paid or not world.agents:
        return None
    booking = rng.choice(paid)
    agent = rng.choice(world.agents)
    path = f"/bookings/{booking}/refunds"

    def body() -> dict[str, Any]:
        return {"amount": rng.choice([100, 500, 1500, 4000]), "reason": "Chaos goodwill"}
    roll = rng.random()
    if roll < 0.15:
        same, key = body(), uuid.uuid4().hex
        _at_once(lambda: Client(world).send("refund (twice at once)", "POST", path, agent, same, key), 2)
    elif roll < 0.3:
        bodies = [body() for _ in range(3)]
        _at_once(lambda: Client(world).send("refund (three agents at once)", "POST", path, agent,
                                            bodies.pop(), uuid.uuid4().hex), 3)
    else:
        client.send("refund", "POST", path, agent, body(), uuid.uuid4().hex)


def read(client: Client, rng: random.Random) -> None:
    world = client.world
    traveler = rng.randrange(len(world.travelers))
    mine = world.own_bookings(traveler)
    if mine:
        client.send("read booking", "GET", f"/bookings/{rng.choice(mine)}", world.travelers[traveler])


def change_capacity(client: Client, rng: random.Random) -> None:
    world = client.world
    listing = rng.choice(world.listings)
    first = rng.randrange(len(world.dates))
    last = rng.randrange(first, len(world.dates))
    # A small listing stays small (its dates keep selling out); a raise frees units for its waitlist.
    capacity = rng.randint(0, 3) if listing.small else rng.randint(0, 8)
    body = {"from": world.dates[first], "to": world.dates[last], "capacity": capacity,
            "price": rng.randint(20, 400) * 100}
    client.send("vendor capacity", "PUT", f"/vendor/listings/{listing.listing_id}/availability",
                world.vendors[listing.vendor], body)


def change_price(client: Client, rng: random.Random) -> None:
    """A new price for one date, capacity as the vendor last read it (read, then write)."""
    world = client.world
    listing = rng.choice(world.listings)
    day = rng.choice(world.dates)
    status, data = client.send("vendor reads availability", "GET",
                               f"/listings/{listing.listing_id}/availability?from={day}&to={day}")
    if status != 200 or not data.get("days"):
        return
    body = {"days": [{"date": day, "capacity": data["days"][0]["capacity"], "price": rng.randint(20, 400) * 100}]}
    client.send("vendor price", "PUT", f"/vendor/listings/{listing.listing_id}/availability",
                world.vendors[listing.vendor], body)


# --- the waitlist -------------------------------------------------------------------------------

def _sold_out_item(client: Client, rng: random.Random, listing: ListingRef, quantity: int) -> dict[str, Any] | None:
    """An item of the listing on a date the app shows as sold out for `quantity` (read first,
    as a traveler sees "sold out" before the waitlist button), or None if none is."""
    world = client.world
    status, data = client.send("waitlist: read availability", "GET", f"/listings/{listing.listing_id}/availability"
                               f"?from={world.dates[0]}&to={world.dates[-1]}")
    if status != 200:
        return None
    short = [d["date"] for d in data.get("days") or [] if int(d.get("available", 0)) < quantity]
    if listing.kind == "hotel":
        short = [d for d in short if d != world.dates[-1]]  # a night needs a check-out after it
    if not short:
        return None
    day = rng.choice(short)
    if listing.kind == "hotel":
        return {"quantity": quantity, "check_in": day,
                "check_out": (date.fromisoformat(day) + timedelta(days=1)).isoformat()}
    return {"quantity": quantity, "date": day}


def join_waitlist(client: Client, rng: random.Random) -> None:
    """A traveler joins the line of dates they found sold out, looking at up to three listings
    (the small ones first); sometimes without looking (409 INVALID_STATE when not sold out)."""
    world = client.world
    traveler = rng.randrange(len(world.travelers))
    small = [listing for listing in world.listings if listing.small]
    others = [listing for listing in world.listings if not listing.small]
    candidates = rng.sample(small, min(2, len(small))) + rng.sample(others, min(1, len(others)))
    quantity = rng.choice([1, 1, 1, 2])
    listing, body = candidates[0], None
    if rng.random() < 0.85:
        for listing in candidates:
            body = _sold_out_item(client, rng, listing, quantity)
            if body is not None:
                break
    if body is None:
        item = _item(rng, world, listing)
        body = {**{k: v for k, v in item.items() if k != "listing_id"}, "quantity": quantity}
    status, data = client.send("join waitlist", "POST", f"/listings/{listing.listing_id}/waitlist",
                               world.travelers[traveler], body)
    if status == 429:
        with world.lock:
            world.waitlist_cap_refusals.append(world.travelers[traveler].email)
    if status in (200, 201) and "entry_id" in data:
        with world.lock:
            world.waitlist[data["entry_id"]] = traveler
            world.waitlist_statuses[data["entry_id"]] = data.get("status", "WAITING")
        if rng.random() < 0.2:  # changed their mind at once: leaving races the offer of freed units
            _leave(client, rng, traveler, data["entry_id"])


def _own_entries(world: World, traveler: int) -> list[str]:
    with world.lock:
        return [e for e, t in world.waitlist.items() if t == traveler]


def read_waitlist(client: Client, rng: random.Random) -> None:
    """A traveler looks at their waitlist; an entry that got its hold shows the booking, which
    they may then pay for or cancel like any other."""
    world = client.world
    with world.lock:
        travelers = sorted(set(world.waitlist.values()))
    if not travelers:
        return
    traveler = rng.choice(travelers)
    status, data = client.send("read my waitlist", "GET", "/me/waitlist?limit=50", world.travelers[traveler])
    if status != 200:
        return
    with world.lock:
        for entry in data.get("entries") or []:
            world.waitlist_statuses[entry["entry_id"]] = entry.get("status", "")
            if entry.get("booking_id") and entry["booking_id"] not in world.bookings:
                world.bookings[entry["booking_id"]] = traveler
                world.statuses.setdefault(entry["booking_id"], "HELD")


def leave_waitlist(client: Client, rng: random.Random) -> None:
    """A traveler leaves one of their lines (mostly one still waiting, as far as they know):
    204, or 409 when it already got its hold or is getting it right now."""
    world = client.world
    with world.lock:
        travelers = sorted(set(world.waitlist.values()))
    if not travelers:
        return
    traveler = rng.choice(travelers)
    mine = _own_entries(world, traveler)
    with world.lock:
        waiting = [e for e in mine if world.waitlist_statuses.get(e) == "WAITING"]
    _leave(client, rng, traveler, rng.choice(waiting if waiting and rng.random() < 0.85 else mine))


def _leave(client: Client, rng: random.Random, traveler: int, entry_id: str) -> None:
    """DELETE the entry; sometimes twice at once (two taps): both 204, or 409 once offered."""
    world = client.world
    path, account = f"/me/waitlist/{entry_id}", world.travelers[traveler]
    if rng.random() < 0.15:
        answers = _at_once(lambda: Client(world).send("leave waitlist (twice at once)", "DELETE", path, account), 2)
    else:
        answers = [client.send("leave waitlist", "DELETE", path, account)]
    if any(status == 204 for status, _ in answers):
        with world.lock:
            world.waitlist_statuses[entry_id] = "LEFT"


def rotate_webhook_secret(client: Client, rng: random.Random, vendor: int | None = None) -> None:
    """The vendor rotates its signing secret and stores the new one; its server verifies with
    the old one too until then (both sign during the overlap)."""
    world = client.world
    vendor = rng.randrange(len(world.vendors)) if vendor is None else vendor
    receiver = world.receivers.get(vendor)
    if receiver is None:
        return
    with world.vendor_locks[vendor]:
        status, data = client.send("vendor rotates webhook secret", "POST", "/vendor/webhook/rotate",
                                   world.vendors[vendor], {})
        if status == 200 and data.get("secret"):
            receiver.learn(data["secret"])


def replay_webhooks(client: Client, rng: random.Random, vendor: int | None = None,
                    operation: str = "vendor replays webhooks") -> None:
    """The vendor asks for its events since one it got lately (its `created`) again."""
    world = client.world
    vendor = rng.randrange(len(world.vendors)) if vendor is None else vendor
    receiver = world.receivers.get(vendor)
    recent = receiver.recent_created(10) if receiver is not None else []
    if not recent:
        return
    mark = receiver.arrivals_so_far()
    status, data = client.send(operation, "POST", "/vendor/webhook/replay", world.vendors[vendor],
                               {"since": rng.choice(recent)})
    if status == 202:
        with world.lock:
            world.replays.append({"vendor_id": world.vendors[vendor].vendor_id, "since": data.get("since"),
                                  "until": data.get("until"), "mark": mark})


def read_deliveries(client: Client, rng: random.Random) -> None:
    world = client.world
    vendor = rng.randrange(len(world.vendors))
    if vendor in world.receivers:
        client.send("vendor reads webhook deliveries", "GET", "/vendor/webhook/deliveries?limit=20",
                    world.vendors[vendor])


OPERATIONS: list[tuple[Callable[[Client, random.Random], None], float]] = [
    (hold, 30), (pay, 28), (retry_payment, 6), (cancel, 12), (refund, 6), (read, 10),
    (change_capacity, 5), (change_price, 4), (rotate_webhook_secret, 1), (replay_webhooks, 0.5),
    (read_deliveries, 1), (join_waitlist, 8), (read_waitlist, 3), (leave_waitlist, 2),
]


def _at_once(request: Callable[[], tuple[int | str, dict[str, Any]]], times: int) -> list[tuple[int | str, dict]]:
    barrier = threading.Barrier(times)

    def go() -> tuple[int | str, dict[str, Any]]:
        barrier.wait()
        return request()
    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(lambda _: go(), range(times)))


def act(world: World, rng: random.Random, budget: Callable[[], bool]) -> None:
    """One simulated user session: operations at random until the run's budget is spent."""
    client = Client(world)
    functions = [f for f, _ in OPERATIONS]
    weights = [w for _, w in OPERATIONS]
    while budget():
        rng.choices(functions, weights)[0](client, rng)
