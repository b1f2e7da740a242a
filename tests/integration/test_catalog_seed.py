"""The demo catalog `make run` seeds: what it contains, and that seeding twice adds nothing."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from chalicelib.inventory.domain import utc_now
from chalicelib.inventory.models import AvailabilityDay, Listing, Vendor
from tools.seed import CITIES, DAYS, catalog, seed_demo_catalog


def test_seeding_the_demo_catalog(api, tokens):
    lines: list[str] = []
    seed_demo_catalog(progress=lines.append)
    assert lines[0].startswith("Seeding the demo catalog") and lines[-1].startswith("Demo catalog ready")

    assert {v.vendor_id: v.name for v in Vendor.batch_get(["ven_aurora", "ven_meridian"])} == {
        "ven_aurora": "Aurora Travel Co.", "ven_meridian": "Meridian Journeys"}
    listings = list(Listing.batch_get([item.listing.listing_id for item in catalog("now")]))
    kinds = Counter(x.kind for x in listings)
    assert kinds["hotel"] >= 6 * 2 * 3 and kinds["event"] >= 12 and kinds["service"] >= 18
    assert {x.city for x in listings if x.kind == "hotel"} == set(CITIES) == {"PAR", "LIS", "BCN", "NYC", "TYO", "CPT"}
    routes = {(x.origin, x.destination) for x in listings if x.kind == "flight"}
    airports = {"CDG", "LIS", "BCN", "JFK", "HND", "CPT"}
    assert routes == {(a, b) for a in airports for b in airports if a != b}  # daily, both ways
    assert {x.vendor_id for x in listings} == {"ven_aurora", "ven_meridian"}
    assert {x.currency for x in listings} == {"EUR", "USD"}

    hotel = next(x for x in listings if x.kind == "hotel")
    days = list(AvailabilityDay.query(hotel.listing_id))
    today = utc_now().date()
    assert [d.date for d in days] == [(today + timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert all(d.available == d.capacity and d.held == 0 and d.sold == 0 and d.price >= 1000 for d in days)

    # Some dates are down to their last unit or two, and search finds the catalog.
    flight = next(x for x in listings if x.kind == "flight")
    capacities = [d.capacity for x in (hotel, flight) for d in AvailabilityDay.query(x.listing_id)]
    assert min(capacities) <= 2
    check_in = (today + timedelta(days=7)).isoformat()
    check_out = (today + timedelta(days=9)).isoformat()
    results = api.get(f"/search?kind=hotel&city=LIS&check_in={check_in}&check_out={check_out}").data["results"]
    assert len(results) >= 4 and all(r["vendor_id"] == "ven_aurora" for r in results)

    lines.clear()
    seed_demo_catalog(progress=lines.append)
    assert lines == [f"Demo catalog already present ({len(listings)} listings); nothing to add."]
    assert len(list(AvailabilityDay.query(hotel.listing_id))) == DAYS
