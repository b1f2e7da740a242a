"""Search-scale benchmark: does a hotel search cost the same in a catalog 20 times larger?

    python -m tools.bench_search

The same search (40 hotels in PAR with rooms for the same three nights) runs against a catalog
of 1,000 listings and then of 20,000, the growth being in other cities, other kinds and other
dates (PAR hotels on sale only on other dates included). It runs in-process against the
embedded AWS in server mode (tools.emulator.EmulatorServer: moto's ThreadedMotoServer with
atomic DynamoDB requests), through the service layer and PynamoDB, with botocore event hooks on the
DynamoDB clients counting requests and items read (Query: ScannedCount, the items DynamoDB
reads before the filter; BatchGetItem: items returned). Target: the same items read at both
sizes, median latency ratio <= 1.3.

A control column times a Query of a partition that holds nothing (`hotel#ZZZ#<date>`): in
DynamoDB its latency does not depend on the table's size, so if it grows in the emulator, the
growth is the emulator's (moto answers every Query, GSI or not, by iterating over all items of
the table: moto/dynamodb/models/table.py, Table.query) and not the key design's.

`search_scale_rows()` returns the table's rows (the `make bench` section); `main()` prints it.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, Callable

SIZES = (1_000, 20_000)
TARGET_HOTELS = 40  # the result count, identical at both sizes
NIGHTS = 3
PAGE = 20
RUNS = 15
CONTROL_RUNS = 5
WRITERS = 8
GROWTH_DAYS = 2  # availability days per growth listing (kept small so loading stays quick)
_CITIES = [a + b + c for a in "BDFGHJKMN" for b in "AEIOU" for c in "LNRST"]  # 225 made-up codes


def _environment(endpoint: str) -> None:
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "ITINERA_STAGE": os.environ.get("ITINERA_STAGE", "bench"), "POWERTOOLS_LOG_LEVEL": "ERROR",
        # Search pages sign cursors: a stage other than local must bring its own key.
        "ITINERA_CURSOR_SECRET": os.environ.get("ITINERA_CURSOR_SECRET") or "bench-cursor-secret",
    })


class Meter:
    """Counts DynamoDB requests and items read, from botocore's own events."""

    def __init__(self, clients: list[Any]) -> None:
        self.requests = 0
        self.items = 0
        # The models share one client (core.aws): hooked twice, it would count each call twice.
        for client in {id(c): c for c in clients}.values():
            client.meta.events.register("before-send.dynamodb", self._sent)
            client.meta.events.register("after-call.dynamodb", self._called)

    def _sent(self, **_: Any) -> None:
        self.requests += 1

    def _called(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            self.items += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0

    def reset(self) -> tuple[int, int]:
        taken = (self.requests, self.items)
        self.requests = self.items = 0
        return taken


def _batches(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _write(items: list[Any]) -> None:
    model = type(items[0])
    with model.batch_write() as batch:
        for item in items:
            batch.save(item)


def _load(listings: list[Any], days: list[Any]) -> None:
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(_write, _batches(days) + _batches(listings)))


def _catalog(start: int, count: int, check_in: date, now: str) -> tuple[list[Any], list[Any]]:
    """Listings start..start+count-1. The first TARGET_HOTELS are the PAR hotels searched for."""
    from chalicelib.inventory.domain import search_key, search_rank
    from chalicelib.inventory.models import AvailabilityDay, CancellationPolicyAttribute, Listing

    listings, days = [], []
    for n in range(start, start + count):
        target = n < TARGET_HOTELS
        kind = "hotel" if target or n % 4 == 0 else ("event", "service", "flight")[n % 3]
        place: dict[str, str]
        if kind == "flight":
            place = {"origin": _CITIES[n % len(_CITIES)], "destination": _CITIES[(n + 7) % len(_CITIES)]}
        elif target or n % 10 == 0:
            place = {"city": "PAR"}  # PAR growth is on other dates, below
        else:
            place = {"city": _CITIES[n % len(_CITIES)]}
        listing = Listing(f"lst_bench{n:06d}", vendor_id=f"ven_bench{n % 50:02d}", kind=kind,
                          title=f"Bench {kind} {n}", description="", currency="EUR", created_at=now,
                          updated_at=now, cancellation_policy=CancellationPolicyAttribute(
                              free_until_hours=24, refund_percent_after=0), **place).with_index_keys()
        listings.append(listing)
        if target:
            dates = [check_in + timedelta(days=i) for i in range(NIGHTS)]
        else:  # other dates: never the nights of the benchmark stay
            dates = [check_in + timedelta(days=NIGHTS + 1 + (n * 3 + i) % 90) for i in range(GROWTH_DAYS)]
        for day in dates:
            key = search_key(kind, day, **place)
            price = 10000 + (n * 37) % 5000
            days.append(AvailabilityDay(listing.listing_id, day.isoformat(), capacity=10, held=0, sold=0,
                                        available=10, price=price, currency="EUR", version=1,
                                        search_key=key, search_rank=search_rank(price, listing.listing_id)))
    return listings, days


def _control_ms(check_in: date) -> float:
    """Median latency of a Query on an empty partition of the search index."""
    from chalicelib.inventory.domain import search_key
    from chalicelib.inventory.models import AvailabilityDay

    key = search_key("hotel", check_in, city="ZZZ")
    latencies = []
    for _ in range(CONTROL_RUNS):
        started = time.perf_counter()
        assert not list(AvailabilityDay.by_search.query(key))
        latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies)


def _measure(search: Callable[[str | None], tuple[list[Any], str | None]], meter: Meter) -> dict[str, Any]:
    for _ in range(3):  # warm connections and caches
        search(None)
    latencies, items_read = [], set()
    for _ in range(RUNS):
        meter.reset()
        started = time.perf_counter()
        first, cursor = search(None)
        latencies.append((time.perf_counter() - started) * 1000)
        items_read.add(meter.reset()[1])
    # Walk every page once to count round trips per page and check the result count.
    results, pages, requests, cursor = 0, 0, 0, None
    while True:
        meter.reset()
        page, cursor = search(cursor)
        requests += meter.reset()[0]
        results += len(page)
        pages += 1
        if cursor is None:
            break
    latencies.sort()
    return {"results": results, "items_read": max(items_read),
            "round_trips_per_page": requests / pages, "pages": pages,
            "median_ms": statistics.median(latencies), "p90_ms": latencies[int(len(latencies) * 0.9) - 1]}


def search_scale_rows() -> list[dict[str, Any]]:
    """Run the benchmark; one row per catalog size, then a `ratio` row (large / small)."""
    with emulated():
        return _rows(_run())


@contextmanager
def emulated() -> Iterator[str]:
    """The embedded AWS, started empty, with this process's environment pointed at it; on exit
    the server stops and the environment and the models' connections are restored. Yields its URL.
    (Also used by tools.bench_dense.)"""
    import urllib.request

    from tools.emulator import EmulatorServer

    saved = dict(os.environ)
    server = EmulatorServer().start()
    try:
        # moto's state is per process (other sections may have used it): start empty.
        urllib.request.urlopen(urllib.request.Request(server.url + "/moto-api/reset", method="POST"),
                               timeout=5)
        _environment(server.url)
        yield server.url
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
        _forget_connections()


def _forget_connections() -> None:
    """PynamoDB caches a connection, endpoint included, per model class (DESIGN pitfall 7), and
    the models share clients (core.aws): both are forgotten, so the next emulator is reached."""
    from chalicelib.core import aws
    from chalicelib.core.config import settings
    from chalicelib.inventory.models import AvailabilityDay, Listing

    settings.cache_clear()
    aws.reset_clients()
    for model in (Listing, AvailabilityDay):
        model._connection = None


def _run() -> list[dict[str, Any]]:
    from chalicelib.inventory import domain, search
    from chalicelib.inventory.models import AvailabilityDay, Listing
    from chalicelib.inventory.search_rules import SearchParams

    _forget_connections()
    for model in (Listing, AvailabilityDay):
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    meter = Meter([m._get_connection().connection.client for m in (Listing, AvailabilityDay)])
    check_in = domain.utc_now().date() + timedelta(days=30)
    params = SearchParams("hotel", city="PAR", check_in=check_in, check_out=check_in + timedelta(days=NIGHTS))
    now = domain.iso_instant(domain.utc_now())

    def run_search(cursor: str | None) -> tuple[list[Any], str | None]:
        return search.search(params, limit=PAGE, cursor=cursor)

    rows, loaded = [], 0
    for size in SIZES:
        started = time.monotonic()
        listings, days = _catalog(loaded, size - loaded, check_in, now)
        _load(listings, days)
        loaded = size
        row = {"listings": size, "load_s": time.monotonic() - started, **_measure(run_search, meter),
               "empty_query_ms": _control_ms(check_in)}
        row["availability_items"] = (rows[-1]["availability_items"] if rows else 0) + len(days)
        rows.append(row)
    return rows


def _rows(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Presentable rows: one per catalog size, then the ratio of the large to the small."""
    rows = [{"catalog (listings)": f"{m['listings']:,}", "availability items": m["availability_items"],
             "results": m["results"], "items read / search": m["items_read"],
             "round trips / page": m["round_trips_per_page"], "median ms": m["median_ms"],
             "p90 ms": m["p90_ms"], "empty Query ms": m["empty_query_ms"], "load s": m["load_s"]}
            for m in measured]
    small, large = rows
    rows.append({"catalog (listings)": "ratio", **{
        k: large[k] / small[k] for k in ("items read / search", "round trips / page", "median ms",
                                         "empty Query ms")}})
    return rows


def verdict(rows: list[dict[str, Any]]) -> str:
    ratio = rows[-1]
    return (f"items read identical: {'yes' if ratio['items read / search'] == 1 else 'NO'}; "
            f"latency ratio {ratio['median ms']:.2f} (target <= 1.3: "
            f"{'met' if ratio['median ms'] <= 1.3 else 'missed'}); a Query of an empty partition "
            f"grows {ratio['empty Query ms']:.2f}x in the emulator alone")


def main() -> int:
    from tools.bench import format_table

    started = time.monotonic()
    rows = search_scale_rows()
    title = (f"Search at scale: hotel, PAR, {NIGHTS} nights, quantity 1, limit {PAGE}, "
             f"{TARGET_HOTELS} results  [{time.monotonic() - started:.0f} s]")
    print(format_table(title, rows))
    print(verdict(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
