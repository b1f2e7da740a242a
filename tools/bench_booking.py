"""Booking benchmarks (`make bench`): DynamoDB round trips per operation, hold throughput.

Both run in-process against the embedded AWS in server mode (tools/emulator.py) on a port of
their own, through the service layer the routes call.
"""
from __future__ import annotations

import copy
import json
import os
import statistics
import threading
import time
import uuid
from datetime import date, timedelta
from typing import Any, Callable

from tools import dynamodb_calls

dynamodb_calls.install()  # before any botocore client exists

DAYS = 30
TARGETS = {"hold (warm quote cache)": "1", "payment": "<= 2 + provider", "confirmation worker": "<= 2",
           "booking read": "1"}


class _Env:
    """One emulator and a catalog of one hotel and one flight, shared by the sections."""

    def __init__(self) -> None:
        from tools.emulator import EmulatorServer

        self.server = EmulatorServer().start()
        os.environ.update({"AWS_ENDPOINT_URL": self.server.url, "AWS_ACCESS_KEY_ID": "bench",
                           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_REGION": "us-east-1", "ITINERA_MAX_ACTIVE_HOLDS": "1000",
                           "POWERTOOLS_METRICS_NAMESPACE": "ItineraBench", "POWERTOOLS_LOG_LEVEL": "ERROR"})
        os.environ.setdefault("ITINERA_CURSOR_SECRET", "bench-cursor-secret")  # for a non-local ITINERA_STAGE
        import boto3

        from chalicelib.core import aws, queues
        from chalicelib.core.config import settings
        from chalicelib.core.tables import reset_connections
        from infra.resources import models
        from tools.bootstrap import create_queues, create_tables

        from chalicelib.core.observability import logger
        logger.setLevel("ERROR")  # the service logs every hold at INFO: not the benchmark's output
        settings.cache_clear()
        aws.reset_clients()
        queues.reset_queue_urls()
        reset_connections()
        for model in models():
            model._connection = None  # PynamoDB caches one per class (DESIGN pitfall 7)
        create_tables()
        create_queues(boto3.session.Session().client("sqs"))
        self.hotel = self._listing("hotel", city="PAR")
        self.flight = self._listing("flight", origin="CDG", destination="LIS")

    def _listing(self, kind: str, **place: str) -> str:
        from chalicelib.inventory import service as inventory

        listing = inventory.create_listing("ven_bench", {
            "kind": kind, "title": f"Bench {kind}", "description": "", "currency": "EUR", "attributes": {},
            "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 50}, **place})
        start = date.today() + timedelta(days=1)
        inventory.set_availability("ven_bench", listing.listing_id, first=start, last=start + timedelta(days=DAYS),
                                   capacity=100_000, price=10_000, days=None)
        return listing.listing_id

    def stop(self) -> None:
        self.server.stop()


_env: _Env | None = None


def env() -> _Env:
    global _env
    if _env is None:
        _env = _Env()
    return _env


def _traveler(name: str) -> Any:
    from chalicelib.core.auth import Principal
    return Principal(user_id=name, email=f"{name}@example.com", name=name, roles=frozenset({"travelers"}))


def _hold_request(e: _Env, offset: int = 5) -> Any:
    from chalicelib.booking.schemas import HoldRequest
    first = date.today() + timedelta(days=offset)
    return HoldRequest.model_validate({
        "items": [{"listing_id": e.flight, "quantity": 1, "date": first.isoformat()},
                  {"listing_id": e.hotel, "quantity": 1, "check_in": first.isoformat(),
                   "check_out": (first + timedelta(days=2)).isoformat()}],
        "contact": {"email": "bench@example.com", "name": "Bench"}})


class _ProviderOutsideCount:
    """The payment provider's own calls (the local one uses DynamoDB) are not the operation's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with dynamodb_calls.not_counted():
                return method(*args, **kwargs)
        return call


def _exclude_provider() -> None:
    from chalicelib.booking import cancellation, confirmation, payment, payment_cleanup
    from chalicelib.booking.payments import provider
    for module in (payment, payment_cleanup, confirmation, cancellation):
        module.payment_provider = lambda: _ProviderOutsideCount(provider())  # type: ignore[assignment]


def round_trips() -> list[dict[str, Any]]:
    from chalicelib.booking import service
    from chalicelib.booking.schemas import PaymentRequest
    from chalicelib.inventory import reservations

    e = env()
    _exclude_provider()
    rows = []

    def measure(operation: str, run: Callable[[], Any]) -> Any:
        with dynamodb_calls.counting() as calls:
            result = run()
        rows.append({"operation": operation, "round trips": calls.total, "target": TARGETS.get(operation, ""),
                     "calls": ", ".join(f"{op} x{n}" for op, n in sorted(calls.by_operation.items()))})
        return result

    traveler = _traveler("rt-traveler")
    reservations.forget()
    measure("hold (cold quote cache)", lambda: service.place_hold(traveler, _hold_request(e), uuid.uuid4().hex))
    held = measure("hold (warm quote cache)",
                   lambda: service.place_hold(traveler, _hold_request(e), uuid.uuid4().hex))
    booking_id = held.booking_id
    measure("payment", lambda: service.pay(traveler, booking_id, PaymentRequest(payment_method="tok_visa"),
                                           uuid.uuid4().hex))
    measure("confirmation worker", lambda: service.confirm_booking(booking_id))
    measure("booking read", lambda: service.get_booking(traveler, booking_id))
    measure("cancel request (CONFIRMED)", lambda: service.cancel(traveler, booking_id, None))
    measure("cancellation worker", lambda: service.process_cancellation(booking_id))
    other = service.place_hold(traveler, _hold_request(e), uuid.uuid4().hex)
    measure("cancel (HELD)", lambda: service.cancel(traveler, other.booking_id, None))
    return rows


# --- throughput ---------------------------------------------------------------------------------

THREADS = 8
HOLDS_PER_THREAD = 25


def _capture_transaction(run: Callable[[], Any]) -> list[dict[str, Any]]:
    """The TransactItems the service sent for one hold (a botocore before-call hook)."""
    from chalicelib.core import tables

    captured: list[dict[str, Any]] = []

    def grab(params: Any, **kwargs: Any) -> None:
        captured.append(copy.deepcopy(params["TransactItems"]))

    client = tables.transaction()._connection.client  # the shared connection's botocore client
    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", grab)
    try:
        run()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", grab)
    return captured[-1]


def _run_threads(work: Callable[[int, int], None]) -> float:
    """Holds per second for THREADS threads doing HOLDS_PER_THREAD each."""
    start_line = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def runner(t: int) -> None:
        start_line.wait()
        try:
            for i in range(HOLDS_PER_THREAD):
                work(t, i)
        except BaseException as exc:  # noqa: BLE001 (reported after the run)
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(t,)) for t in range(THREADS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return THREADS * HOLDS_PER_THREAD / elapsed


def hold_throughput() -> list[dict[str, Any]]:
    from chalicelib.booking import service

    e = env()
    service.place_hold(_traveler("warm-up"), _hold_request(e), uuid.uuid4().hex)  # warm the quote cache
    marker = uuid.uuid4().hex
    template_traveler = _traveler(f"tpl-{marker}")
    shape = _capture_transaction(lambda: service.place_hold(template_traveler, _hold_request(e), marker))
    text = json.dumps(shape)

    def service_hold(t: int, i: int) -> None:
        held = service.place_hold(_traveler(f"svc-{t}-{i}"), _hold_request(e), uuid.uuid4().hex)
        assert held.status == "HELD"

    import boto3
    clients = [boto3.session.Session().client("dynamodb") for _ in range(THREADS)]

    def raw_hold(t: int, i: int) -> None:
        # Same items, same sizes: only the unique keys (booking, reference, idempotency, traveler) differ.
        unique = uuid.uuid4().hex[:20]
        items = json.loads(text.replace(marker, unique[:len(marker)].ljust(len(marker), "0"))
                           .replace(f"tpl-{marker}", f"raw-{unique}"))
        for item in items:
            put = item.get("Put")
            if put and "booking_id" in put["Item"] and "traveler_id" in put["Item"]:
                put["Item"]["booking_id"] = {"S": "bk_" + unique}
            if put and "reference" in put["Item"] and "booking_id" in put["Item"] and len(put["Item"]) == 2:
                put["Item"]["reference"] = {"S": unique[:6].upper()}
            if put and "sort_key" in put["Item"]:
                put["Item"]["sort_key"] = {"S": f"x#{unique}"}
        clients[t].transact_write_items(TransactItems=items)

    rounds = []
    for _ in range(2):  # alternate to spread any warm-up or drift over both
        rounds.append((_run_threads(service_hold), _run_threads(raw_hold)))
    service_rate = statistics.median(r[0] for r in rounds)
    raw_rate = statistics.median(r[1] for r in rounds)
    return [{"path": "service layer (place_hold)", "holds/s": round(service_rate, 1), "threads": THREADS},
            {"path": "raw TransactWriteItems, same shape", "holds/s": round(raw_rate, 1), "threads": THREADS},
            {"path": "ratio service/raw (target >= 0.6)", "holds/s": round(service_rate / raw_rate, 2),
             "threads": THREADS}]
