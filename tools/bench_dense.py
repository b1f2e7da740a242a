"""Dense-city benchmark: what does a hotel search cost when one city holds thousands of hotels?

    python -m tools.bench_dense

One made-up city (DNS, not in chalicelib/inventory/places.py) holds 100, then 1,000, then 5,000
hotels (loaded incrementally: 100, +900, +4,000). Each hotel has a base price (5,000-60,000 minor
units) with a few percent of variation per night, rows on the three nights of the searched stay
and on two dates around it, a few percent of nights sold out, and a rating for most (1-400
reviews averaging 2.5-5.0; about 15% unrated). All of it comes from seeded random.Random, one
per hotel, so a hotel is the same whichever density it is loaded at.

At each density a 3-night search (quantity 1, limit 20) runs through the service layer
(chalicelib.inventory.search.search), sorted by price and by rating. Pages 1 to 5 are walked
once, each compared with the order computed by brute force from the loaded data (a wrong search
fails the section instead of being timed), and pages 1 and 5 are timed alone, again and again
with the cursor that leads to them, the search modules' caches (if any) forgotten before each
call. The DynamoDB requests and items read of a page come from tools.bench_search.Meter
(botocore events: Query's ScannedCount, BatchGetItem's and GetItem's items). A page whose one
search takes more than SLOW_SEARCH_BUDGET_S / RUNS gets fewer runs (the `runs` column): a search
that reads the whole city takes tens of seconds at 5,000 hotels in the emulator.

A control column times a Query for one item (Limit 1) of the city's partition for the first
night: in DynamoDB its latency does not depend on the partition's size, in the emulator it does
(moto's Table.query sorts every item of the partition before it applies Limit), so when it
grows with the density, that much of a search's growth in latency is the emulator's.

Targets: at 5,000 hotels, items read and median latency within 3x of 100 hotels; page 5 within
1.5x of page 1 (status ok when both items read and median latency are within). With a few
nights sold out, fewer than 100 of 100 hotels have a room every night, so at 100 hotels page 5
is the last page and a short one (the `offers` column): the density target applies to page 1,
and deeper pages are held to the depth target at each density (page 5's density ratio is shown
without a target).

`dense_city_rows()` returns the table's rows (the `make bench` section); `main()` prints it.
"""
from __future__ import annotations

import importlib
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tools.bench_search import Meter, _load, emulated

CITY = "DNS"  # made up: not in chalicelib/inventory/places.py
DENSITIES = (100, 1_000, 5_000)
NIGHTS = 3
PAGE = 20
PAGES = (1, 5)
SORTS = ("price", "rating")
RUNS = 10  # timed runs per (density, sort, page)
MIN_RUNS = 1
SLOW_SEARCH_BUDGET_S = 15.0  # a page whose one search is slow gets fewer runs (_repeat)
CONTROL_RUNS = 5
VERBOSE = False  # progress on stderr (main() sets it; the `make bench` section stays quiet)
SEED = 20_240_601
SOLD_OUT_SHARE = 0.04
UNRATED_SHARE = 0.15
DENSITY_TARGET = 3.0  # 5,000 vs 100 hotels: items read and median latency
DEPTH_TARGET = 1.5  # page 5 vs page 1


@dataclass(frozen=True)
class Stay:
    """What brute force needs of one hotel: its nights' prices and availability, its rating."""
    listing_id: str
    prices: tuple[int, ...]
    available: tuple[int, ...]
    rating_sum: float
    rating_count: int


def _hotels(start: int, count: int, check_in: date, now: str) -> tuple[list[Any], list[Any], list[Stay]]:
    """Hotels start..start+count-1 of the city: listings, availability rows, and brute-force stays."""
    from chalicelib.inventory.domain import search_key, search_rank
    from chalicelib.inventory.models import AvailabilityDay, CancellationPolicyAttribute, Listing

    nights = [check_in + timedelta(days=i) for i in range(NIGHTS)]
    around = [check_in - timedelta(days=1), check_in + timedelta(days=NIGHTS)]  # never searched here
    listings, days, stays = [], [], []
    for n in range(start, start + count):
        rng = random.Random(f"{SEED}:{n}")
        listing_id = f"lst_dense{n:05d}"
        if rng.random() < UNRATED_SHARE:
            rating_sum, rating_count = 0, 0
        else:
            rating_count = rng.randint(1, 400)
            rating_sum = round(rng.uniform(2.5, 5.0) * rating_count)  # whole stars
        listing = Listing(listing_id, vendor_id=f"ven_dense{n % 50:02d}", kind="hotel",
                          title=f"Dense hotel {n}", description="", currency="EUR", city=CITY,
                          created_at=now, updated_at=now, version=1,
                          rating_sum=rating_sum, rating_count=rating_count,
                          cancellation_policy=CancellationPolicyAttribute(
                              free_until_hours=24, refund_percent_after=0)).with_index_keys()
        listings.append(listing)
        base = rng.randint(5_000, 60_000)
        prices, available = [], []
        for day in nights + around:
            price = round(base * rng.uniform(0.92, 1.08))
            capacity = rng.randint(2, 30)
            sold = capacity if rng.random() < SOLD_OUT_SHARE else rng.randint(0, capacity - 1)
            days.append(AvailabilityDay(listing_id, day.isoformat(), capacity=capacity, held=0, sold=sold,
                                        available=capacity - sold, price=price, currency="EUR", version=1,
                                        search_key=search_key("hotel", day, city=CITY),
                                        search_rank=search_rank(price, listing_id)))
            if day in nights:
                prices.append(price)
                available.append(capacity - sold)
        stays.append(Stay(listing_id, tuple(prices), tuple(available), rating_sum, rating_count))
    return listings, days, stays


def _expected(stays: list[Stay], sort: str) -> list[tuple[str, int]]:
    """(listing id, stay price) of every hotel with a unit on every night, in the search's order,
    computed here by brute force: price, then id; or rated first, average (two decimals) high
    to low, reviews high to low, price, id."""
    from chalicelib.inventory.domain import rating_average

    open_stays = [s for s in stays if min(s.available) >= 1]

    def key(stay: Stay) -> tuple[Any, ...]:
        total = sum(stay.prices)
        if sort == "price":
            return (total, stay.listing_id)
        average = rating_average(stay.rating_sum, stay.rating_count)
        return (average is None, -(average or 0), -stay.rating_count, stay.listing_id)  # the rating index order

    return [(s.listing_id, sum(s.prices)) for s in sorted(open_stays, key=key)]


def _forget_caches() -> None:
    """Whatever the search modules cache between calls (none today; a rewrite might add some):
    in chalicelib.inventory's loaded modules named *search* or *topk*, lru_cache-d functions
    defined there, and module-level dicts or sets named *cache*."""
    importlib.import_module("chalicelib.inventory.search")  # loaded, so the loop below sees it
    modules = [m for name, m in list(sys.modules.items()) if m is not None
               and name.startswith("chalicelib.inventory.") and ("search" in name or "topk" in name)]
    for module in modules:
        for name, value in vars(module).items():
            if callable(getattr(value, "cache_clear", None)) and \
                    getattr(value, "__module__", None) == module.__name__:
                value.cache_clear()
            elif "cache" in name.lower() and isinstance(value, (dict, set)):
                value.clear()


def _check(page: list[Any], expected: list[tuple[str, int]], label: str) -> None:
    got = [(o.listing_id, o.price_total) for o in page]
    if got != expected:
        raise AssertionError(f"{label}: the search returned {got[:5]}... ({len(got)} offers), brute "
                             f"force expects {expected[:5]}... ({len(expected)} offers)")


@dataclass
class Sample:
    offers: int
    next_cursor: str | None
    ms: float
    requests: int
    items: int


def _timed(params: Any, cursor: str | None, meter: Meter) -> tuple[list[Any], Sample]:
    """One search of one page, caches forgotten first, timed and metered."""
    from chalicelib.inventory.search import search

    _forget_caches()
    meter.reset()
    started = time.perf_counter()
    page, next_cursor = search(params, limit=PAGE, cursor=cursor)
    ms = (time.perf_counter() - started) * 1000
    requests, items = meter.reset()
    return page, Sample(len(page), next_cursor, ms, requests, items)


def _repeat(params: Any, cursor: str | None, meter: Meter, first: Sample) -> dict[str, Any]:
    """Time the page again and again with the same cursor. `first` (the walk's call, whose
    result was checked) is a warm-up when searches are quick; when one takes so long that RUNS
    would not fit in SLOW_SEARCH_BUDGET_S it counts as a run, and fewer runs follow (at least
    MIN_RUNS in all)."""
    if first.ms / 1000 * RUNS <= SLOW_SEARCH_BUDGET_S:
        samples = [_timed(params, cursor, meter)[1] for _ in range(RUNS)]
    else:
        runs = max(MIN_RUNS, int(SLOW_SEARCH_BUDGET_S / (first.ms / 1000)))
        samples = [first] + [_timed(params, cursor, meter)[1] for _ in range(runs - 1)]
    latencies = sorted(s.ms for s in samples)
    return {"offers": first.offers, "items": max(s.items for s in samples),
            "trips": max(s.requests for s in samples), "runs": len(samples),
            "median": statistics.median(latencies),
            "p90": latencies[min(len(latencies) - 1, round(0.9 * (len(latencies) - 1)))]}


def _pages(params: Any, expected: list[tuple[str, int]], meter: Meter, label: str) -> dict[int, dict[str, Any]]:
    """Walk pages 1..max(PAGES) once, checking each against brute force; time each page of
    PAGES alone, with the cursor that leads to it (page 5: the cursor of page 4)."""
    measured: dict[int, dict[str, Any]] = {}
    cursor = None
    for number in range(1, max(PAGES) + 1):
        page, first = _timed(params, cursor, meter)
        _check(page, expected[(number - 1) * PAGE:number * PAGE], f"{label}, page {number}")
        if number in PAGES:
            measured[number] = _repeat(params, cursor, meter, first)
            _progress(f"{label}, page {number}: {measured[number]}")
        if first.next_cursor is None and number < max(PAGES):
            raise AssertionError(f"{label}: no cursor after page {number}")
        cursor = first.next_cursor
    return measured


def _progress(text: str) -> None:
    if VERBOSE:
        print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _control_ms(check_in: date) -> float:
    """Median latency of a one-item Query of the city's partition for the first night."""
    from chalicelib.inventory.domain import search_key
    from chalicelib.inventory.models import AvailabilityDay

    key = search_key("hotel", check_in, city=CITY)
    latencies = []
    for _ in range(CONTROL_RUNS):
        started = time.perf_counter()
        assert len(list(AvailabilityDay.by_search.query(key, limit=1))) == 1
        latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies)


def _run() -> tuple[list[dict[str, Any]], dict[int, float]]:
    from chalicelib.inventory import domain
    from chalicelib.inventory.models import AvailabilityDay, Listing
    from chalicelib.inventory.search_rules import SearchParams
    from tools.bench_search import _forget_connections

    _forget_connections()
    for model in (Listing, AvailabilityDay):
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    meter = Meter([m._get_connection().connection.client for m in (Listing, AvailabilityDay)])
    check_in = domain.utc_now().date() + timedelta(days=30)
    now = domain.iso_instant(domain.utc_now())
    stays: list[Stay] = []
    measured, load_s = [], {}
    for density in DENSITIES:
        started = time.monotonic()
        listings, days, added = _hotels(len(stays), density - len(stays), check_in, now)
        _load(listings, days)
        stays += added
        load_s[density] = time.monotonic() - started
        _progress(f"{density:,} hotels loaded ({len(days):,} availability rows added) in "
                  f"{load_s[density]:.1f} s")
        control = _control_ms(check_in)
        for sort in SORTS:
            params = SearchParams("hotel", city=CITY, check_in=check_in,
                                  check_out=check_in + timedelta(days=NIGHTS), sort=sort)
            expected = _expected(stays, sort)
            # At 100 hotels, with some nights sold out, page 5 is the last and a short one.
            if len(expected) <= (max(PAGES) - 1) * PAGE:
                raise AssertionError(f"{density} hotels: only {len(expected)} open stays, no page "
                                     f"{max(PAGES)}")
            for page_number, result in _pages(params, expected, meter, f"{density:,} hotels, sort={sort}").items():
                measured.append({"density": density, "sort": sort, "page": page_number,
                                 "stays": len(expected), "control": control, **result})
    return measured, load_s


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _rows(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (density, sort, page); then 5,000 vs 100 per (sort, page), page 5 vs page 1
    per (density, sort), each with its target and status (ok when items read and median
    latency are both within it)."""
    rows: list[dict[str, Any]] = [
        {"hotels": f"{m['density']:,}", "sort": m["sort"], "page": str(m["page"]), "open stays": m["stays"],
         "offers": m["offers"], "items read": m["items"], "round trips": m["trips"], "median ms": m["median"], "p90 ms": m["p90"],
         "runs": m["runs"], "1-item Query ms": m["control"]} for m in measured]
    by = {(m["density"], m["sort"], m["page"]): m for m in measured}

    def ratio_row(hotels: str, sort: str, page: str, big: dict[str, Any], small: dict[str, Any],
                  target: float | None) -> dict[str, Any]:
        items, latency = _ratio(big["items"], small["items"]), _ratio(big["median"], small["median"])
        row = {"hotels": hotels, "sort": sort, "page": page, "items read": items,
               "round trips": _ratio(big["trips"], small["trips"]), "median ms": latency,
               "p90 ms": _ratio(big["p90"], small["p90"])}
        if big["density"] != small["density"]:  # the emulator's own growth between the densities
            row["1-item Query ms"] = _ratio(big["control"], small["control"])
        if target is None:
            return {**row, "target": "-", "status": "-"}
        return {**row, "target": f"<= {target:g}x",
                "status": "ok" if items <= target and latency <= target else "OVER"}

    low, high = DENSITIES[0], DENSITIES[-1]
    for sort in SORTS:
        for page in PAGES:
            # The density target is for page 1: at 100 hotels page 5 is the short last page, so
            # its ratio is shown for information (deeper pages have the depth target below).
            rows.append(ratio_row(f"{high:,} vs {low:,}", sort, str(page), by[high, sort, page],
                                  by[low, sort, page], DENSITY_TARGET if page == PAGES[0] else None))
    first, deep = PAGES[0], PAGES[-1]
    for density in DENSITIES:
        for sort in SORTS:
            rows.append(ratio_row(f"{density:,}", sort, f"{deep} vs {first}", by[density, sort, deep],
                                  by[density, sort, first], DEPTH_TARGET))
    return rows


def dense_city_rows() -> list[dict[str, Any]]:
    """Run the benchmark: the `make bench` section."""
    with emulated():
        measured, _ = _run()
    return _rows(measured)


def main() -> int:
    global VERBOSE
    from tools.bench import format_table

    VERBOSE = True
    started = time.monotonic()
    with emulated():
        measured, load_s = _run()
    rows = _rows(measured)
    title = (f"Dense city: hotel, {CITY}, {NIGHTS} nights, limit {PAGE}  "
             f"[{time.monotonic() - started:.0f} s]")
    print(format_table(title, rows))
    print("load s: " + ", ".join(f"{d:,} hotels {s:.1f}" for d, s in load_s.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
