"""The demo experience `make run` seeds on top of the demo catalog (tools.seed): reviews,
promotions, a waitlist in action and recommendations.

    lines = seed_demo_experience(progress=print)   # the lines to show in the banner

Everything is written through the use cases that travelers, vendors, administrators and the
workers call, never as hand-made counters:

- 30 guest travelers (Principals with generated user ids in the travelers group: no Cognito
  account) each book a trip of two to four listings in one city for today (a hotel night, a
  tour or show, sometimes the inbound flight): place_hold, pay with "tok_visa" (the local
  payment provider), then the confirmation worker's use case (confirm_booking) and the
  recommendations worker's counting (count_confirmed) are called at once, so co-bookings and
  popularity are ready before the API starts; the messages pay and confirm_booking queue are
  delivered later by the event runner and count nothing twice (the use cases are idempotent).
- The guests review what they booked (today's dates have come), and each vendor answers one.
- Promotions: AURORA10 (Aurora, 10% off its hotels), MERIDIAN25 (Meridian, 25.00 USD off), and
  EVENTS15 (an administrator's, 15% off events); a few guests use the vendors' codes.
- The waitlist: a guest holds every Junior Suite of Hôtel Lumière Saint-Germain for one night
  ten days ahead, and traveler2@example.com joins the line for a room; when the guest's hold
  lapses (the stage's hold time), the booking sweeper frees the rooms and the waitlist worker
  gives traveler2 an automatic hold and an email.
- traveler@example.com has a confirmed two-night stay at Le Petit Marais from today: they can
  review it, and their recommendations show what the guests of that hotel also booked.

Idempotent: a guest with a booking books nothing again, a review or reply already written is
not written again (ALREADY_REVIEWED / ALREADY_REPLIED), a code in use is kept, and the
waitlist scene is set only when traveler2 has no entry for it. Deterministic: one seeded random
drives the trips and the reviews; ids of guests derive from their number.
"""
from __future__ import annotations

import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from chalicelib.core import clock
from chalicelib.core.auth import Principal
from tools.demo_users import DEMO_USERS
from tools.seed import CITIES, listing_id

SEED = 20270302
GUESTS_PER_CITY = 5
WAITLIST_DAYS_AHEAD = 10
PROMOTION_DAYS = 90
_GUEST_NAMESPACE = uuid.UUID("6f1c2a4e-9d1b-4c57-8a43-1f0e5d2b7c90")

# Listings of the scenes, by the catalog's slugs (tools.seed derives ids from them).
ANCHOR_HOTEL = "hotel:PAR:Le Petit Marais:Standard Double"  # the demo traveler's stay
WAITLIST_HOTEL = "hotel:PAR:Hôtel Lumière Saint-Germain:Junior Suite"

GUEST_NAMES = (
    "Amélie Laurent", "Bruno Costa", "Chiara Rossi", "Daniel Okafor", "Elena Petrova", "Farid Haddad",
    "Greta Lindqvist", "Hiro Tanaka", "Inés García", "Jonas Weber", "Keanu Makoa", "Lucía Fernández",
    "Mei Chen", "Nikolai Ivanov", "Olivia Brown", "Pedro Almeida", "Quinn Murphy", "Rania Aziz",
    "Sven Olsen", "Thandi Nkosi", "Uma Patel", "Viktor Horvat", "Wren Taylor", "Ximena Ruiz",
    "Yusuf Demir", "Zoë Martin", "Aiko Suzuki", "Ben Carter", "Clara Dubois", "Diego Morales",
    "Marta Nowak",  # the waitlist scene's guest
)

PROMOTIONS = (  # code, owner email, terms
    ("AURORA10", "vendor@example.com", {"percent_off": 10, "kind": "hotel", "max_uses": 500,
                                        "max_uses_per_traveler": 2}),
    ("MERIDIAN25", "vendor2@example.com", {"amount_off": 2500, "currency": "USD", "max_uses": 200,
                                           "max_uses_per_traveler": 1}),
    ("EVENTS15", "admin@example.com", {"percent_off": 15, "kind": "event", "max_uses": 1000,
                                       "max_uses_per_traveler": 3}),
)
_CODE_OF_VENDOR = {"ven_aurora": "AURORA10", "ven_meridian": "MERIDIAN25"}

_COMMENTS = {  # (kind, mood): comments; mood: good (4-5), fair (3), poor (1-2)
    ("hotel", "good"): ["Spotless room, friendly staff and a great breakfast.",
                        "Perfect location for walking everywhere. Would stay again.",
                        "Quiet at night, comfortable bed, fast wifi. Exactly what we needed.",
                        "Lovely little hotel with a lot of character; the team went out of their way for us.",
                        "Great value for the neighbourhood. Check-in took two minutes."],
    ("hotel", "fair"): ["Fine for a night or two, but the room was smaller than the photos suggest.",
                        "Good location; the street noise kept us up a bit.",
                        "Clean and correct, nothing special. Breakfast could be better."],
    ("hotel", "poor"): ["The air conditioning did not work and nobody came to fix it.",
                        "Overpriced for what you get; the bathroom needed a renovation."],
    ("event", "good"): ["An unforgettable evening, the performers were superb.",
                        "Great atmosphere and good seats. Book early!",
                        "Worth every cent, we are still talking about it."],
    ("event", "fair"): ["Nice show, but the venue was very crowded.",
                        "Good performance, long queue at the entrance."],
    ("event", "poor"): ["Started 40 minutes late and the sound was poor."],
    ("service", "good"): ["Our guide was funny and knew so much. Highly recommended.",
                          "The driver was waiting for us at arrivals, smooth and on time.",
                          "Well organised from start to finish, a highlight of our trip.",
                          "Small group, great pace, lots of hidden spots."],
    ("service", "fair"): ["Good tour, though a bit rushed at the end.",
                          "The car was fine; the pick-up was 15 minutes late."],
    ("service", "poor"): ["The meeting point was hard to find and the tour felt rushed."],
    ("flight", "good"): ["On time, friendly crew, smooth flight.",
                         "Quick boarding and we landed early. No complaints."],
    ("flight", "fair"): ["A bit of a delay at departure, otherwise fine.",
                         "Cramped seats but a short flight."],
    ("flight", "poor"): ["Two hours late and no information at the gate."],
}
_REPLIES = {
    "ven_aurora": "Thank you for staying with us and for your honest feedback. We have passed it on to "
                  "the team and hope to welcome you back soon.",
    "ven_meridian": "Thanks for taking the time to write this. We are sorry it fell short and we are "
                    "already looking into it with our partners.",
}


@dataclass
class Trip:
    city: str
    guest: Principal
    items: list[dict[str, Any]]  # HoldItemIn bodies
    promo_code: str | None = None


@dataclass
class Report:
    bookings: int = 0
    reviews: int = 0
    reviewed_listings: set[str] = field(default_factory=set)
    replies: int = 0
    lines: list[str] = field(default_factory=list)


# --- who ----------------------------------------------------------------------------------------


def demo_principal(email: str) -> Principal:
    """A demo user as their ID token would present them: the Cognito `sub` is the user id (the
    accounts are created by tools.bootstrap before seeding)."""
    from chalicelib.core import aws
    from chalicelib.core.config import settings

    user = next(u for u in DEMO_USERS if u.email == email)
    found = aws.client("cognito-idp").admin_get_user(UserPoolId=settings().user_pool_id, Username=email)
    attributes = {a["Name"]: a["Value"] for a in found.get("UserAttributes", [])}
    return Principal(user_id=attributes["sub"], email=email, name=user.name, roles=frozenset({user.group}),
                     vendor_id=user.vendor_id)


def guest(number: int) -> Principal:
    """A synthetic guest traveler: no Cognito account, a stable id derived from the number."""
    return Principal(user_id=str(uuid.uuid5(_GUEST_NAMESPACE, f"guest-{number}")),
                     email=f"guest{number:02d}@example.com", name=GUEST_NAMES[number],
                     roles=frozenset({"travelers"}))


# --- booking as a traveler ----------------------------------------------------------------------


def _newest_booking(user: Principal) -> dict[str, Any] | None:
    from chalicelib.booking import service as bookings

    found = bookings.list_my_bookings(user, status=None, limit=1, cursor=None)["bookings"]
    return found[0] if found else None


def _hold(user: Principal, items: list[dict[str, Any]], key: str, promo_code: str | None = None) -> dict[str, Any]:
    from chalicelib.booking import service as bookings
    from chalicelib.booking.schemas import HoldRequest
    from chalicelib.booking.views import booking_view

    request = HoldRequest.model_validate({"items": items, "contact": {"email": user.email, "name": user.name},
                                          "promo_code": promo_code})
    held = bookings.place_hold(user, request, key)
    if hasattr(held, "booking_id"):
        return booking_view(held, user, clock.now())
    return dict(held.body)  # the first answer to the same key: the same booking


def _settle(user: Principal, booking: dict[str, Any]) -> str:
    """HELD -> pay -> CONFIRMING -> confirm (the worker's use case) -> CONFIRMED, then counted for
    recommendations. Each step is idempotent, so a booking left half-way is finished."""
    from chalicelib.booking import service as bookings
    from chalicelib.booking.schemas import PaymentRequest
    from chalicelib.recommendations import counting

    booking_id, status = booking["booking_id"], booking["status"]
    if status == "HELD":
        bookings.pay(user, booking_id, PaymentRequest(payment_method="tok_visa"), f"demo-pay-{booking_id}")
        status = "CONFIRMING"
    if status == "CONFIRMING":
        bookings.confirm_booking(booking_id)
        status = "CONFIRMED"
    if status == "CONFIRMED":
        counting.count_confirmed(booking_id)
    return status


def _book(trip: Trip, today: str) -> tuple[dict[str, Any], str, bool]:
    """(booking, status, placed now) of the guest's trip. A guest with a booking keeps it (on
    another day the plan may differ: the booking, not the plan, says what they booked)."""
    existing = _newest_booking(trip.guest)
    booking = existing or _hold(trip.guest, trip.items, f"demo-trip-{today}", trip.promo_code)
    return booking, _settle(trip.guest, booking), existing is None


# --- planning -----------------------------------------------------------------------------------


class Stock:
    """Today's free units of the listings the scenes use (one batch read), counted down as the
    plan takes them, so that no planned trip meets a sold-out date."""

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        from chalicelib.inventory.models import AvailabilityDay

        self.free = {(d.listing_id, d.date): int(d.available)
                     for d in AvailabilityDay.batch_get(sorted(set(keys)), consistent_read=True)}

    def take(self, lid: str, days: list[str]) -> bool:
        if all(self.free.get((lid, d), 0) >= 1 for d in days):
            for d in days:
                self.free[(lid, d)] -= 1
            return True
        return False


def _city_listings() -> dict[str, dict[str, list[str]]]:
    """{city: {"hotel": [ids], "extra": [ids of events and services], "flight": [inbound ids]}}."""
    from tools.seed import EVENTS, HOTELS, ROOMS, SERVICES, catalog

    flights = [i.listing for i in catalog("seed") if i.listing.kind == "flight"]
    out = {}
    for city, (airport, _, currency, _) in CITIES.items():
        same_currency = {a for a, _, c, _ in CITIES.values() if c == currency}
        out[city] = {
            "hotel": [listing_id(f"hotel:{city}:{h}:{r}") for h, _ in HOTELS[city] for r, *_ in ROOMS[:2]],
            "extra": [listing_id(f"event:{city}:{e[0]}") for e in EVENTS[city]]
                     + [listing_id(f"service:{city}:{s[0]}") for s in SERVICES[city]],
            "flight": [f.listing_id for f in flights if f.destination == airport and f.origin in same_currency],
        }
    return out


def plan_trips(today: date, rng: random.Random) -> tuple[list[Trip], Stock]:
    listings = _city_listings()
    day, night_after = today.isoformat(), (today + timedelta(days=1)).isoformat()
    keys = [(lid, d) for city in listings.values() for ids in city.values() for lid in ids
            for d in (day, night_after)] + [(listing_id(ANCHOR_HOTEL), night_after)]
    stock = Stock(keys)
    # The demo traveler's two nights come first: the anchor's rooms must be there for them.
    stock.take(listing_id(ANCHOR_HOTEL), [day, night_after])
    trips, number = [], 0
    for city, ids in listings.items():
        for n in range(GUESTS_PER_CITY):
            user = guest(number)
            number += 1
            items: list[dict[str, Any]] = []
            hotels = ids["hotel"]
            # Most Paris guests stay at the demo traveler's hotel: their other bookings are
            # what "also booked" shows the demo traveler.
            wanted = [listing_id(ANCHOR_HOTEL)] if city == "PAR" and n < 4 else rng.sample(hotels, len(hotels))
            hotel = next((h for h in wanted + hotels if stock.take(h, [day])), None)
            if hotel:
                items.append({"listing_id": hotel, "quantity": 1, "check_in": day, "check_out": night_after})
            for extra in rng.sample(ids["extra"], len(ids["extra"])):
                if len(items) >= 3:
                    break
                if stock.take(extra, [day]):
                    items.append({"listing_id": extra, "quantity": 1, "date": day})
            if rng.random() < 0.4:
                flight = rng.choice(ids["flight"])
                if stock.take(flight, [day]):
                    items.append({"listing_id": flight, "quantity": 1, "date": day})
            if items:
                # The second guest of each city uses their vendor's code (AURORA10 is for hotels).
                vendor = CITIES[city][3]
                code = _CODE_OF_VENDOR[vendor] if n == 1 and (hotel or vendor != "ven_aurora") else None
                trips.append(Trip(city, user, items, code))
    return trips, stock


# --- the scenes ---------------------------------------------------------------------------------


def _promotions(now: float) -> list[str]:
    """The three codes; a code already in use is left as it is."""
    from chalicelib.core.errors import PromoCodeTaken
    from chalicelib.promotions import service as promotions
    from chalicelib.promotions.models import ADMIN_OWNER

    start = int(now // 86400 * 86400)  # from 00:00 UTC today
    created = []
    for code, email, terms in PROMOTIONS:
        owner = demo_principal(email)
        # A second run on another day sends other dates: the code's owner's list says it is there.
        present, _ = promotions.list_for(owner.vendor_id or ADMIN_OWNER, limit=50, cursor=None)
        if any(p.code == code for p in present):
            continue
        fields = {"code": code, "valid_from": start, "valid_to": start + PROMOTION_DAYS * 86400,
                  "listing_id": None, **terms}
        fields.setdefault("kind", None)
        try:
            promotions.create(owner, owner.vendor_id, fields, now)
            created.append(code)
        except PromoCodeTaken:
            pass
    return created


def _rating(rng: random.Random, lid: str) -> int:
    """Each listing has its own level (so sort=rating orders something), each stay its mood."""
    level = random.Random(f"{SEED}:{lid}").uniform(3.1, 4.8)
    return max(1, min(5, round(rng.gauss(level, 0.8))))


def _comment(kind: str, rating: int, rng: random.Random) -> str:
    mood = "good" if rating >= 4 else "fair" if rating == 3 else "poor"
    return rng.choice(_COMMENTS[(kind, mood)])


def _review_trip(user: Principal, booking: dict[str, Any], report: Report) -> None:
    """The guest reviews most of what they booked (a review already written stays as it is)."""
    from chalicelib.core.errors import AlreadyReviewed
    from chalicelib.reviews import service as reviews

    for item in booking["items"]:
        lid = item["listing_id"]
        rng = random.Random(f"{SEED}:{user.user_id}:{lid}")
        if rng.random() < 0.15:
            continue  # not every guest writes a review
        rating = _rating(rng, lid)
        comment = "" if rng.random() < 0.1 else _comment(item["kind"], rating, rng)
        try:
            reviews.post_review(user, lid, rating=rating, comment=comment, booking_id=booking["booking_id"])
            report.reviews += 1
        except AlreadyReviewed:
            pass
        report.reviewed_listings.add(lid)


def _guests(trips: list[Trip], today: str, report: Report) -> list[tuple[Trip, str]]:
    """Book, pay, confirm, count and review each guest's trip. Against the emulator server
    (AWS_ENDPOINT_URL) the cities run side by side, which overlaps the HTTP round trips: their
    trips touch disjoint listings and dates, and the emulator runs one DynamoDB call at a time.
    moto's in-process mock (the tests) cannot run transactions side by side: one after the
    other there. Returns (trip, booking id) of the confirmed trips."""
    by_city: dict[str, list[Trip]] = {}
    for trip in trips:
        by_city.setdefault(trip.city, []).append(trip)

    def run(city_trips: list[Trip]) -> tuple[list[tuple[Trip, str]], Report]:
        done, mine = [], Report()
        for trip in city_trips:
            booking, status, placed = _book(trip, today)
            mine.bookings += placed
            if status == "CONFIRMED":
                _review_trip(trip.guest, booking, mine)
                done.append((trip, booking["booking_id"]))
        return done, mine

    if os.environ.get("AWS_ENDPOINT_URL") and len(by_city) > 1:
        with ThreadPoolExecutor(max_workers=len(by_city)) as pool:
            results = list(pool.map(run, by_city.values()))
    else:
        results = [run(city_trips) for city_trips in by_city.values()]
    booked = []
    for done, mine in results:
        booked += done
        report.bookings += mine.bookings
        report.reviews += mine.reviews
        report.reviewed_listings |= mine.reviewed_listings
    return booked


def _replies(vendors: dict[str, str], kinds: dict[str, str], report: Report) -> None:
    """Each vendor answers its most critical review of one hotel (the demo traveler's for
    Aurora): once; a hotel whose reviews already have an answer is left alone."""
    from chalicelib.core.errors import AlreadyReplied
    from chalicelib.reviews import service as reviews

    for email in ("vendor@example.com", "vendor2@example.com"):
        vendor = demo_principal(email)
        own = sorted(lid for lid in report.reviewed_listings
                     if vendors.get(lid) == vendor.vendor_id and kinds.get(lid) == "hotel")
        anchor = listing_id(ANCHOR_HOTEL)
        for lid in ([anchor] if anchor in own else []) + own:
            listed, _ = reviews.list_reviews(lid, limit=50, cursor=None)
            if not listed:
                continue
            if any(r.reply is not None for r in listed):
                break
            worst = min(listed, key=lambda r: (r.rating, r.review_id))
            try:
                reviews.reply(vendor, lid, worst.review_id, _REPLIES[vendor.vendor_id or ""])
                report.replies += 1
            except AlreadyReplied:
                pass
            break


def _demo_stay(today: date) -> tuple[Principal, str]:
    """traveler@example.com: a confirmed two-night stay at the anchor hotel from today."""
    from chalicelib.booking import service as bookings

    traveler = demo_principal("traveler@example.com")
    anchor = listing_id(ANCHOR_HOTEL)
    found = next(iter(bookings.confirmed_bookings_of_listing(traveler, anchor)), None)
    if found is not None:
        return traveler, found.booking_id
    item = {"listing_id": anchor, "quantity": 1, "check_in": today.isoformat(),
            "check_out": (today + timedelta(days=2)).isoformat()}
    held = _hold(traveler, [item], f"demo-stay-{today.isoformat()}")
    _settle(traveler, held)
    return traveler, held["booking_id"]


@dataclass(frozen=True)
class WaitlistScene:
    listing_id: str
    night: str
    holder_rooms: int
    expires_at: str | None  # ISO instant the guest's hold lapses (None: already lapsed or unknown)
    status: str  # traveler2's entry: WAITING, OFFERED, ...


def _waitlist(today: date) -> WaitlistScene | None:
    """A guest holds every Junior Suite of one night; traveler2 joins the line for one room."""
    from chalicelib.core.errors import InvalidState
    from chalicelib.waitlist import service as waitlist

    lid = listing_id(WAITLIST_HOTEL)
    night = today + timedelta(days=WAITLIST_DAYS_AHEAD)
    check_out = night + timedelta(days=1)
    traveler2 = demo_principal("traveler2@example.com")
    holder = guest(len(GUEST_NAMES) - 1)
    entries, _ = waitlist.list_mine(traveler2, limit=20, cursor=None)
    mine = next((e for e in entries if e.listing_id == lid), None)
    held = _newest_booking(holder)
    if mine is None:
        if held is None:
            free = Stock([(lid, night.isoformat())]).free.get((lid, night.isoformat()), 0)
            if free:
                held = _hold(holder, [{"listing_id": lid, "quantity": free, "check_in": night.isoformat(),
                                       "check_out": check_out.isoformat()}], f"demo-waitlist-{today.isoformat()}")
        try:
            mine = waitlist.join(traveler2, lid, quantity=1, day=None, check_in=night, check_out=check_out).entry
        except InvalidState:
            return None  # the night is not sold out (the guest's hold has lapsed already)
    rooms = sum(i["quantity"] for i in held["items"]) if held else 0
    expires = held.get("expires_at") if held and held["status"] == "HELD" else None
    return WaitlistScene(lid, night.isoformat(), rooms, expires, mine.status)


# --- the whole -----------------------------------------------------------------------------------


def seed_demo_experience(progress: Callable[[str], None] = print) -> list[str]:
    """Seeds the scenes (after tools.seed.seed_demo_catalog) and returns the lines that tell
    the user what to try."""
    from chalicelib.inventory.models import Listing

    started = time.monotonic()
    now = clock.now()
    today = datetime.fromtimestamp(now, tz=timezone.utc).date()
    rng = random.Random(SEED)
    report = Report()
    created = _promotions(now)
    trips, _ = plan_trips(today, rng)
    progress(f"Seeding the demo experience: {len(trips)} guest trips, reviews, promotions, a waitlist ...")
    booked = _guests(trips, today.isoformat(), report)
    facts = {x.listing_id: x for x in Listing.batch_get(
        sorted(report.reviewed_listings | {listing_id(ANCHOR_HOTEL)}),
        attributes_to_get=["listing_id", "kind", "vendor_id", "title"])}
    kinds = {lid: x.kind for lid, x in facts.items()}
    _replies({lid: x.vendor_id for lid, x in facts.items()}, kinds, report)
    traveler, stay = _demo_stay(today)
    scene = _waitlist(today)
    if not (created or report.bookings or report.reviews or report.replies):
        progress("Demo experience already present; nothing to add.")
    else:
        progress(f"Demo experience ready in {time.monotonic() - started:.1f} s: {report.bookings} bookings, "
                 f"{report.reviews} reviews, {report.replies} replies, {len(created)} promotions.")
    return highlights(booked, report, facts, stay, scene, today)


def highlights(booked: list[tuple[Trip, str]], report: Report, facts: dict[str, Any], stay: str,
               scene: WaitlistScene | None, today: date) -> list[str]:
    anchor = listing_id(ANCHOR_HOTEL)
    check_out = (today + timedelta(days=2)).isoformat()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    emails = f" (emails: {endpoint}/_itinera/ses/messages)" if endpoint else ""
    lines = [
        "Demo experience (reviews, promotions, waitlist, recommendations):",
        f"  reviews     {len(booked)} guest trips for today, reviews on {len(report.reviewed_listings)} listings, "
        f"a reply from each vendor",
        f"              GET /listings/{anchor}/reviews",
        f"              GET /search?kind=hotel&city=PAR&check_in={today}&check_out={check_out}&sort=rating",
        "  promotions  AURORA10    10% off Aurora Travel Co. hotels       (vendor@example.com's)",
        "              MERIDIAN25  25.00 USD off Meridian Journeys trips  (vendor2@example.com's)",
        "              EVENTS15    15% off any event                      (admin@example.com's)",
        "              use one: POST /holds {..., \"promo_code\": \"AURORA10\"}",
        f"  your stay   traveler@example.com has a confirmed stay at {facts[anchor].title} from today "
        f"({stay}): review it with POST /listings/{anchor}/reviews; GET /me/recommendations shows "
        f"what its other guests also booked",
    ]
    if scene is not None:
        title = f"Hôtel Lumière Saint-Germain: Junior Suite ({scene.listing_id}), night of {scene.night}"
        if scene.status == "WAITING" and scene.expires_at:
            lines += [f"  waitlist    {title} is sold out: a guest holds its {scene.holder_rooms} room(s) "
                      f"until {scene.expires_at}",
                      "              and traveler2@example.com waits in line (GET /me/waitlist). When the hold "
                      "lapses, the booking sweeper frees the rooms",
                      f"              and traveler2 automatically gets a hold of one room and an email{emails}."]
        else:
            lines.append(f"  waitlist    {title}: traveler2@example.com's entry is {scene.status} "
                         f"(GET /me/waitlist){emails}")
    return lines
