"""Traveler-experience benchmarks (`make bench`): DynamoDB round trips of a places query, a
recommendations read (as a traveler's history grows), a hold with a promotion code, a review and
joining a waitlist. Shares bench_booking's emulator and catalog (one hotel in PAR, one flight).

Round trips are counted with botocore's send hook (tools.dynamodb_calls), retries included; the
recommendations read runs its reads in parallel threads, so the hook counts every thread's calls
(`counting(all_threads=True)`) and "steps" says how many of them a reader waits for in a row.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import date, timedelta
from typing import Any, Callable

from tools import dynamodb_calls
from tools.bench_booking import _hold_request, _traveler, env

TARGETS = {"places query": "1", "recommendations read": "fixed (not growing with bookings)",
           "hold with a promotion code": "2 (the code's read + the hold)"}


def _book(e: Any, traveler: Any, offset: int, *listings: str) -> str:
    """A confirmed booking of `listings` (the hotel for one night, others by date), counted."""
    from chalicelib.booking import service
    from chalicelib.booking.schemas import HoldRequest, PaymentRequest
    from chalicelib.recommendations.counting import count_confirmed

    first = date.today() + timedelta(days=offset)
    items = [{"listing_id": lid, "quantity": 1, "check_in": first.isoformat(),
              "check_out": (first + timedelta(days=1)).isoformat()} if lid == e.hotel
             else {"listing_id": lid, "quantity": 1, "date": first.isoformat()} for lid in listings]
    request = HoldRequest.model_validate({"items": items, "contact": {"email": "bench@example.com", "name": "B"}})
    held = service.place_hold(traveler, request, uuid.uuid4().hex)
    service.pay(traveler, held.booking_id, PaymentRequest(payment_method="tok_visa"), uuid.uuid4().hex)
    service.confirm_booking(held.booking_id)
    count_confirmed(held.booking_id)
    return held.booking_id


def round_trips() -> list[dict[str, Any]]:
    from chalicelib.inventory import place_index
    from chalicelib.promotions import service as promotions
    from chalicelib.promotions.schemas import NewPromotion
    from chalicelib.recommendations import service as recommendations
    from chalicelib.booking import service as booking

    from chalicelib.core.config import settings

    # One traveler books twenty times in a row: past the per-minute attempt limits of a person.
    os.environ.update({"ITINERA_HOLD_ATTEMPTS_PER_MINUTE": "1000", "ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE": "1000"})
    settings.cache_clear()
    e = env()
    rows: list[dict[str, Any]] = []

    def measure(operation: str, run: Callable[[], Any], note: str = "") -> Any:
        started = time.perf_counter()
        with dynamodb_calls.counting(all_threads=True) as calls:
            result = run()
        rows.append({"operation": operation, "round trips": calls.total, "target": TARGETS.get(operation, ""),
                     "ms": round((time.perf_counter() - started) * 1000, 1), "note": note,
                     "calls": ", ".join(f"{op} x{n}" for op, n in sorted(calls.by_operation.items()))})
        return result

    measure("places query", lambda: place_index.find("par", limit=10), "q=par")

    # Co-bookings: others booked the hotel and the flight together; our traveler books the hotel.
    for i in range(3):
        _book(e, _traveler(f"co-{i}"), 3 + i, e.hotel, e.flight)
    reader = _traveler("reco-reader")
    for bookings in (1, 20):
        while len(_reader_bookings) < bookings:
            _reader_bookings.append(_book(e, reader, 8 + len(_reader_bookings), e.hotel))
        measure("recommendations read", lambda: recommendations.recommend(reader, limit=10),
                f"history of {bookings} booking(s)")
    measure("recommendations read", lambda: recommendations.recommend(_traveler("reco-new"), limit=10),
            "no history, no searches")

    code = f"BENCH{uuid.uuid4().hex[:6].upper()}"
    body = NewPromotion.model_validate({"code": code, "percent_off": 10, "valid_from": "2020-01-01T00:00:00Z",
                                        "valid_to": "2099-01-01T00:00:00Z", "max_uses": 1000,
                                        "max_uses_per_traveler": 1000})
    promotions.create(_traveler("bench-vendor"), "ven_bench", body.model_dump())
    request = _hold_request(e, offset=20).model_copy(update={"promo_code": code})
    booking.place_hold(_traveler("warm"), _hold_request(e, offset=20), uuid.uuid4().hex)  # warm quote cache
    measure("hold with a promotion code", lambda: booking.place_hold(_traveler("promo"), request, uuid.uuid4().hex))
    return rows


_reader_bookings: list[str] = []
