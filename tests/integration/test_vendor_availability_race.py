"""Capacity updates racing holds, with real threads against the emulator in server mode.

Vendors lower and raise capacity (single dates and 150-date updates that span two
transactions) while travelers hold and release units on the same dates with the booking
context's exact expressions. Afterwards no date may be oversold, every item must satisfy
`available == capacity - held - sold`, and `held` must equal the units the holders still hold.

The emulator is the project's (tools.emulator): moto's server with DynamoDB requests made
atomic as DynamoDB's are; the clients race freely, which is what this test is about.
"""
from __future__ import annotations

import random
import threading
import urllib.request
from collections import Counter
from datetime import date, timedelta

import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.core.errors import CapacityBelowCommitted, RequestInProgress
from chalicelib.inventory import availability, service
from chalicelib.inventory.domain import DaySetting
from chalicelib.inventory.models import AvailabilityDay, Listing, hold_actions, release_actions
from infra.resources import models
from tests.conftest import reset_app_state
from tools.emulator import EmulatorServer

HOLDERS = 6
VENDORS = 3
ROUNDS = 40


def _forget_connections() -> None:
    # PynamoDB caches a connection (and its endpoint) per model class (DESIGN pitfall 7). Every
    # model's, not only the two used here: the cache of shared clients is reset too, and a model
    # left holding the old client would no longer share one with the others (later tests count a
    # request's calls on that one client).
    for model in models():
        model._connection = None
    reset_app_state()


@pytest.fixture
def emulator(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(var, raising=False)
    server = EmulatorServer().start()
    try:
        # moto's state is per process: start from an empty emulator.
        urllib.request.urlopen(urllib.request.Request(server.url + "/moto-api/reset", method="POST"), timeout=5)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        _forget_connections()
        for model in (Listing, AvailabilityDay):
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield server
    finally:
        _forget_connections()  # no model may keep pointing at a stopped server
        server.stop()


def _hold(listing_id: str, day: str, quantity: int, release: bool = False) -> bool:
    actions, condition = (release_actions if release else hold_actions)(quantity)
    try:
        with TransactWrite(connection=AvailabilityDay._get_connection().connection) as tx:
            tx.update(AvailabilityDay(listing_id, day), actions=actions, condition=condition)
        return True
    except TransactWriteError:
        return False


def test_capacity_updates_racing_holds_never_oversell(emulator):
    listing = service.create_listing("ven_race", {
        "kind": "hotel", "title": "Race room", "description": "", "currency": "EUR", "city": "PAR",
        "attributes": {}, "cancellation_policy": {"free_until_hours": 24, "refund_percent_after": 0}})
    first = date.today() + timedelta(days=3)
    dates = [first + timedelta(days=i) for i in range(150)]
    availability.set_availability(listing, {d: DaySetting(12, 9000) for d in dates})
    # The contested dates sit in both transactions of a 150-date update (99 + 51).
    contested = [dates[0], dates[50], dates[120], dates[149]]

    held: Counter[str] = Counter()
    held_lock = threading.Lock()
    outcomes: Counter[str] = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(HOLDERS + VENDORS)

    def holder(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        mine: list[tuple[str, int]] = []
        for _ in range(ROUNDS):
            if mine and rng.random() < 0.3:
                day, quantity = mine.pop(rng.randrange(len(mine)))
                assert _hold(listing.listing_id, day, quantity, release=True)
                with held_lock:
                    held[day] -= quantity
                continue
            day, quantity = rng.choice(contested).isoformat(), rng.randint(1, 3)
            if _hold(listing.listing_id, day, quantity):
                mine.append((day, quantity))
                with held_lock:
                    held[day] += quantity

    def vendor(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(ROUNDS // 4):
            if rng.random() < 0.5:
                capacity = rng.randint(3, 14)
                settings = {d: DaySetting(capacity, 9000 + rng.randint(0, 9) * 100) for d in dates}
            else:
                settings = {d: DaySetting(rng.randint(0, 14), 9500) for d in rng.sample(contested, 2)}
            try:
                availability.set_availability(listing, settings)
                outcomes["updated"] += 1
            except CapacityBelowCommitted:
                outcomes["below_committed"] += 1
            except RequestInProgress:
                outcomes["busy"] += 1

    def run(target, seed):
        try:
            target(seed)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(holder, i)) for i in range(HOLDERS)]
    threads += [threading.Thread(target=run, args=(vendor, 100 + i)) for i in range(VENDORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    assert outcomes["updated"] > 0 and outcomes["below_committed"] > 0, outcomes

    days = {d.date: d for d in AvailabilityDay.query(listing.listing_id, consistent_read=True)}
    assert len(days) == len(dates)
    for key, day in days.items():
        assert day.held + day.sold <= day.capacity, key
        assert day.available == day.capacity - day.held - day.sold, key
        assert day.held == held[key], key
    assert Listing.get(listing.listing_id).availability_lock is None  # every lease was returned
