"""The demo catalog `make run` seeds: six cities, hotels, flights, events and services.

    seed_demo_catalog(progress=print)

Two demo vendors (tools.demo_users): Aurora Travel Co. sells Europe (hotels in Paris, Lisbon
and Barcelona, flights between them, events and tours there) and Meridian Journeys the rest
(New York, Tokyo, Cape Town, and every long-haul flight). 120 days of availability from today
(UTC), priced in EUR or USD with weekends, seasons and last-minute fares, and a few dates down
to their last unit or two.

Ids derive from names, so running it again adds nothing twice: listings that already exist are
left alone with their calendars (a re-run never resets counters that bookings rely on).
Everything is written with BatchWriteItem, 25 items per call, from a few threads.
"""
from __future__ import annotations

import hashlib
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Iterator

from chalicelib.inventory import domain, places
from chalicelib.inventory.models import (VENDOR_DIRECTORY, AvailabilityDay, CancellationPolicyAttribute,
                                         Listing, Vendor)
from tools.demo_users import DEMO_USERS

DAYS = 120
WRITERS = 4
AURORA, MERIDIAN = "ven_aurora", "ven_meridian"

_SOLD_IN = {  # city code: (currency, vendor)
    "PAR": ("EUR", AURORA), "LIS": ("EUR", AURORA), "BCN": ("EUR", AURORA),
    "NYC": ("USD", MERIDIAN), "TYO": ("USD", MERIDIAN), "CPT": ("USD", MERIDIAN),
}
# city code: (airport, name, currency, vendor). Names and airports come from the one table of
# places search uses too; flights are seeded from each city's main airport.
CITIES = {city: (places.CITIES[city].airports[0], places.CITIES[city].name, currency, vendor)
          for city, (currency, vendor) in _SOLD_IN.items()}

HOTELS = {  # two hotels per city: (name, price level 1-3)
    "PAR": [("Hôtel Lumière Saint-Germain", 3), ("Le Petit Marais", 2)],
    "LIS": [("Casa do Tejo", 2), ("Alfama Azulejo Suites", 1)],
    "BCN": [("Hotel Mirador Gràcia", 2), ("Barceloneta Beach Rooms", 1)],
    "NYC": [("The Hudson Loft Hotel", 3), ("Greenwich Brownstone Inn", 2)],
    "TYO": [("Sakura Garden Hotel Shinjuku", 2), ("Asakusa River Ryokan", 2)],
    "CPT": [("Table Bay Vista Hotel", 2), ("Bo-Kaap Courtyard Lodge", 1)],
}
ROOMS = [  # room type, rooms of the type, price factor, guests
    ("Standard Double", 10, 1.0, 2), ("Superior Twin", 6, 1.3, 2), ("Junior Suite", 2, 2.1, 3),
]
HOTEL_BASE = {"PAR": 160, "LIS": 95, "BCN": 115, "NYC": 210, "TYO": 140, "CPT": 90}

EVENTS = {  # (title, capacity, price, weekdays it runs: 0 = Monday)
    "PAR": [("Jazz night in a Saint-Germain cellar club", 80, 35, (3, 4, 5)),
            ("Seine dinner cruise", 120, 95, (0, 1, 2, 3, 4, 5, 6))],
    "LIS": [("Fado night in Alfama", 60, 40, (2, 3, 4, 5, 6)),
            ("Sunset concert at Belém", 300, 30, (5, 6))],
    "BCN": [("Flamenco show in the Gothic Quarter", 90, 45, (0, 1, 2, 3, 4, 5, 6)),
            ("Spanish guitar recital at a modernist concert hall", 250, 38, (4, 5))],
    "NYC": [("Broadway musical, orchestra seats", 200, 159, (1, 2, 3, 4, 5, 6)),
            ("Jazz at a Harlem supper club", 70, 65, (3, 4, 5))],
    "TYO": [("Kabuki performance in Ginza", 180, 85, (0, 2, 3, 4, 5, 6)),
            ("Sumo tournament, morning session", 150, 70, (5, 6))],
    "CPT": [("Kirstenbosch sunset garden concert", 400, 25, (6,)),
            ("Waterfront jazz evening", 100, 35, (4, 5))],
}
SERVICES = {  # (title, capacity per day, price, what)
    "PAR": [("Private transfer CDG airport to central Paris", 12, 75, "transfer"),
            ("Montmartre walking tour", 20, 29, "tour"), ("Versailles day trip with skip-the-line entry", 30, 119, "tour")],
    "LIS": [("Private transfer LIS airport to the city", 12, 35, "transfer"),
            ("Alfama and Mouraria walking tour", 20, 22, "tour"), ("Sintra and Cascais day trip", 24, 79, "tour")],
    "BCN": [("Private transfer BCN airport to the city", 12, 45, "transfer"),
            ("Gaudí walking tour", 20, 32, "tour"), ("Montserrat day trip", 30, 69, "tour")],
    "NYC": [("Private transfer JFK airport to Manhattan", 10, 110, "transfer"),
            ("Lower Manhattan walking tour", 25, 39, "tour"), ("Hudson Valley day trip", 20, 149, "tour")],
    "TYO": [("Private transfer HND airport to central Tokyo", 10, 95, "transfer"),
            ("Tsukiji and Ginza food tour", 12, 89, "tour"), ("Mount Fuji and Hakone day trip", 40, 129, "tour")],
    "CPT": [("Private transfer CPT airport to the city", 12, 30, "transfer"),
            ("Table Mountain guided hike", 14, 45, "tour"), ("Cape Peninsula and penguins day trip", 20, 99, "tour")],
}
# Great-circle distances (km) between the airports, for fares and durations.
_COORDS = {"CDG": (49.01, 2.55), "LIS": (38.77, -9.13), "BCN": (41.30, 2.08),
           "JFK": (40.64, -73.78), "HND": (35.55, 139.78), "CPT": (-33.97, 18.60)}
_SHORT_HAUL = 2500


@dataclass
class SeedListing:
    listing: Listing
    capacity: int
    base_price: int  # major units
    kind_rules: str  # hotel | flight | event | service
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    days: list[AvailabilityDay] = field(default_factory=list)


def listing_id(slug: str) -> str:
    return "lst_" + hashlib.sha256(f"itinera-demo:{slug}".encode()).hexdigest()[:16]


def _km(a: str, b: str) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, _COORDS[x])) for x in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def _listing(slug: str, vendor: str, kind: str, title: str, currency: str, policy: tuple[int, int],
             attributes: dict[str, Any], description: str, now: str, **place: str) -> Listing:
    return Listing(listing_id(slug), vendor_id=vendor, kind=kind, title=title, description=description,
                   currency=currency, attributes=attributes, created_at=now, updated_at=now, version=1,
                   cancellation_policy=CancellationPolicyAttribute(free_until_hours=policy[0],
                                                                   refund_percent_after=policy[1]),
                   **place).with_index_keys()


def catalog(now: str) -> list[SeedListing]:
    out: list[SeedListing] = []
    for city, (airport, city_name, currency, vendor) in CITIES.items():
        for hotel, level in HOTELS[city]:
            for room, rooms, factor, guests in ROOMS:
                slug = f"hotel:{city}:{hotel}:{room}"
                listing = _listing(slug, vendor, "hotel", f"{hotel}: {room}", currency, (48, 0),
                                   {"hotel": hotel, "room_type": room, "guests": guests,
                                    "stars": 2 + level, "breakfast_included": level >= 2},
                                   f"{room} at {hotel}, {city_name}. Free cancellation until 48 hours "
                                   f"before arrival.", now, city=city)
                price = HOTEL_BASE[city] * (0.75 + 0.25 * level) * factor
                out.append(SeedListing(listing, rooms, round(price), "hotel"))
        for title, capacity, price, weekdays in EVENTS[city]:
            listing = _listing(f"event:{city}:{title}", vendor, "event", title, currency, (72, 50),
                               {"starts_at": "20:00", "duration_minutes": 120, "venue_city": city_name},
                               f"{title}, {city_name}. Tickets are for the date booked.", now, city=city)
            out.append(SeedListing(listing, capacity, price, "event", weekdays))
        for title, capacity, price, what in SERVICES[city]:
            listing = _listing(f"service:{city}:{title}", vendor, "service", title, currency, (24, 0),
                               {"category": what, "meeting_point": f"central {city_name}" if what == "tour"
                                else f"{airport} arrivals hall", "languages": ["en", "fr", "es"]},
                               f"{title}. One unit is one traveler (transfers: one car).", now, city=city)
            out.append(SeedListing(listing, capacity, price, "service"))
    out.extend(_flights(now))
    return out


def _flights(now: str) -> list[SeedListing]:
    out = []
    airports = {airport: currency for airport, _, currency, _ in CITIES.values()}
    for number, (origin, destination) in enumerate(
            [(a, b) for a in airports for b in airports if a != b], start=100):
        km = _km(origin, destination)
        short = km < _SHORT_HAUL
        vendor = AURORA if short else MERIDIAN
        currency = "EUR" if vendor == AURORA else "USD"
        departures = ["07:10", "18:45"] if short else ["10:30"]
        minutes = int(km / 800 * 60 + 40)
        for leg, departs in enumerate(departures):
            code = f"{'AU' if short else 'MJ'}{number * 2 + leg}"
            listing = _listing(f"flight:{code}", vendor, "flight", f"{origin} → {destination} {code} {departs}",
                               currency, (24, 0 if short else 25),
                               {"flight_number": code, "departs_at": departs, "duration_minutes": minutes,
                                "cabin": "economy", "bags_included": 0 if short else 1},
                               f"Daily economy flight {code} from {origin} to {destination}, "
                               f"{minutes // 60} h {minutes % 60:02d} min.", now,
                               origin=origin, destination=destination)
            fare = 55 + km * (0.06 if short else 0.075)
            out.append(SeedListing(listing, 150 if short else 180, round(fare), "flight"))
    return out


def _price(item: SeedListing, day: date, offset: int, rng: random.Random) -> int:
    """Major units -> minor units, with weekends, a seasonal wave, last-minute and noise."""
    price = float(item.base_price)
    if item.kind_rules in ("hotel", "event") and day.weekday() in (4, 5):
        price *= 1.2
    price *= 1 + 0.12 * math.sin(2 * math.pi * day.timetuple().tm_yday / 365)
    if item.kind_rules == "flight" and offset < 14:
        price *= 1.35 - offset * 0.02
    price *= rng.uniform(0.94, 1.06)
    return max(1, round(price)) * 100


def _days(item: SeedListing, first: date, rng: random.Random) -> Iterator[AvailabilityDay]:
    listing = item.listing
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() not in item.weekdays:
            continue
        capacity = item.capacity
        if rng.random() < 0.06:  # nearly sold out: the last unit or two
            capacity = rng.choice((1, 2)) if item.capacity > 2 else 1
        key = domain.search_key(listing.kind, day, city=listing.city, origin=listing.origin,
                                destination=listing.destination)
        price = _price(item, day, offset, rng)
        yield AvailabilityDay(listing.listing_id, day.isoformat(), capacity=capacity, held=0, sold=0,
                              available=capacity, price=price, currency=listing.currency, version=1,
                              search_key=key, search_rank=domain.search_rank(price, listing.listing_id))


def _write(items: list[Any]) -> int:
    """BatchWriteItem, 25 per call (PynamoDB flushes and retries unprocessed items)."""
    by_model: dict[type, list[Any]] = {}
    for item in items:
        by_model.setdefault(type(item), []).append(item)
    for model, group in by_model.items():
        with model.batch_write() as batch:
            for item in group:
                batch.save(item)
    return len(items)


def seed_demo_catalog(progress: Callable[[str], None] = print) -> None:
    started = time.monotonic()
    now = domain.iso_instant(domain.utc_now())
    first = domain.utc_now().date()
    vendors = [Vendor(u.vendor_id, name=u.vendor_name, email=u.email, created_at=now,
                      directory=VENDOR_DIRECTORY) for u in DEMO_USERS if u.vendor_id]
    _write(vendors)
    items = catalog(now)
    existing = {x.listing_id for x in Listing.batch_get([i.listing.listing_id for i in items])}
    new = [i for i in items if i.listing.listing_id not in existing]
    if not new:
        progress(f"Demo catalog already present ({len(items)} listings); nothing to add.")
        return
    rng = random.Random(20270301)  # same prices on every run of the same day
    days = [day for item in new for day in _days(item, first, rng)]
    progress(f"Seeding the demo catalog: {len(vendors)} vendors, {len(new)} listings, "
             f"{len(days):,} availability days ...")
    # Calendars first, listings last: a listing is never visible without its calendar.
    batches = [days[i:i + 500] for i in range(0, len(days), 500)]
    written = 0
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for done, count in enumerate(pool.map(_write, batches), start=1):
            written += count
            if done % max(1, len(batches) // 4) == 0 or done == len(batches):
                progress(f"  availability {written:,}/{len(days):,}")
    _write([i.listing for i in new])
    _index_places(new, days)
    progress(f"Demo catalog ready in {time.monotonic() - started:.1f} s.")


def _index_places(items: list[SeedListing], days: list[AvailabilityDay]) -> None:
    """The calendars above were written directly, not through the vendors' availability update
    whose hook keeps the places index (GET /places): extend it for them here."""
    from chalicelib.inventory.place_index import extend_listing

    last: dict[str, str] = {}
    for day in days:
        if day.capacity > 0 and day.date > last.get(day.listing_id, ""):
            last[day.listing_id] = day.date
    for item in items:
        listing = item.listing
        if listing.listing_id in last:
            extend_listing(listing.kind, date.fromisoformat(last[listing.listing_id]), city=listing.city,
                           origin=listing.origin, destination=listing.destination)
