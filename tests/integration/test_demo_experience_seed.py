"""The demo experience `make run` seeds after the catalog (tools.seed_experience): reviews with
matching averages, promotion codes that apply, a waitlist that turns into a hold once the
guest's hold lapses, recommendations for the demo traveler, and nothing added twice."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.core import clock
from chalicelib.core.config import settings
from chalicelib.inventory.domain import utc_now
from chalicelib.inventory.models import AvailabilityDay
from tests.conftest import world_once
from tools import seed
from tools.seed import listing_id, seed_demo_catalog
from tools.seed_experience import ANCHOR_HOTEL, WAITLIST_DAYS_AHEAD, WAITLIST_HOTEL, seed_demo_experience


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


@pytest.fixture
def seeded(api, tokens, monkeypatch) -> list[str]:
    """The catalog (a two-week calendar: the scenes use the next eleven days) and the experience,
    seeded once per test process and day, then copied for each test (seeding takes ~30 s)."""
    monkeypatch.setattr(seed, "DAYS", 14)

    def build() -> list[str]:
        seed_demo_catalog(progress=lambda line: None)
        return seed_demo_experience(progress=lambda line: None)

    return world_once(("demo experience", today(0)), build)


def today(offset: int = 0) -> str:
    return (utc_now().date() + timedelta(days=offset)).isoformat()


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def reviews_of(api, lid: str) -> list[dict]:
    page = api.get(f"/listings/{lid}/reviews?limit=50")
    assert page.status_code == 200, page.data
    return page.data["reviews"]


def test_reviews_are_listed_with_averages_that_match_them(api, seeded):
    paris = api.get(f"/search?kind=hotel&city=PAR&check_in={today(1)}&check_out={today(2)}&sort=rating&limit=50")
    assert paris.status_code == 200, paris.data
    rated = [r for r in paris.data["results"] if r["rating"]["count"]]
    assert len(rated) >= 2
    for result in rated:
        listed = reviews_of(api, result["listing_id"])
        assert len(listed) == result["rating"]["count"]
        assert result["rating"]["average"] == round(sum(r["rating"] for r in listed) / len(listed), 2)
    averages = [r["rating"]["average"] for r in rated]
    assert averages == sorted(averages, reverse=True)  # sort=rating shows the seeded ratings
    anchor = reviews_of(api, listing_id(ANCHOR_HOTEL))
    assert len(anchor) >= 3 and all(r["author"] != "Traveler" for r in anchor)
    assert any(r.get("reply") for r in anchor)  # Aurora answered one


def test_reviews_cover_many_listings_and_each_vendor_answers_one(api, seeded):
    count = int("\n".join(seeded).split("reviews on ")[1].split(" listings")[0])
    assert count >= 20
    answered = []
    for city in seed.CITIES:
        found = api.get(f"/search?kind=hotel&city={city}&check_in={today(1)}&check_out={today(2)}&sort=rating"
                        f"&limit=50").data["results"]
        for result in found:
            if result["rating"]["count"]:
                answered += [result["vendor_id"] for r in reviews_of(api, result["listing_id"]) if r.get("reply")]
    assert sorted(answered) == ["ven_aurora", "ven_meridian"]


def _hold(api, token, item, code):
    return api.post("/holds", {"items": [item], "contact": {"email": "traveler@example.com", "name": "Tessa"},
                               "promo_code": code}, token=token, headers=key())


def _event_date(lid: str) -> str:
    return next(d.date for d in AvailabilityDay.query(lid) if d.date > today(0) and d.available > 0)


def test_the_seeded_promotion_codes_apply_to_a_hold(api, tokens, seeded):
    assert any("AURORA10" in line for line in seeded) and any("MERIDIAN25" in line for line in seeded) \
        and any("EVENTS15" in line for line in seeded)
    stay = {"listing_id": listing_id("hotel:LIS:Casa do Tejo:Standard Double"), "quantity": 1,
            "check_in": today(3), "check_out": today(4)}
    aurora = _hold(api, tokens["traveler"], stay, "aurora10")
    assert aurora.status_code == 201, aurora.data
    total = sum(i["amount"]["amount"] for i in aurora.data["items"])
    assert aurora.data["discount"]["code"] == "AURORA10"
    assert aurora.data["discount"]["amount"]["amount"] == total * 10 // 100

    tour = {"listing_id": listing_id("service:NYC:Lower Manhattan walking tour"), "quantity": 2, "date": today(3)}
    meridian = _hold(api, tokens["traveler"], tour, "MERIDIAN25")
    assert meridian.status_code == 201, meridian.data
    assert meridian.data["discount"]["amount"] == {"amount": 2500, "currency": "USD"}

    show = listing_id("event:BCN:Flamenco show in the Gothic Quarter")
    event = _hold(api, tokens["traveler2"], {"listing_id": show, "quantity": 1, "date": _event_date(show)}, "EVENTS15")
    assert event.status_code == 201, event.data
    assert event.data["discount"]["amount"]["amount"] == event.data["items"][0]["amount"]["amount"] * 15 // 100

    # A vendor's code is for its own listings only.
    other = _hold(api, tokens["traveler2"], dict(tour, date=today(4)), "AURORA10")
    assert other.status_code == 422, other.data
    assert other.data["error"]["code"] == "PROMO_INVALID"
    assert other.data["error"]["details"]["reason"] == "not_applicable"


def test_the_waitlisted_traveler_gets_a_hold_once_the_guest_hold_lapses(api, tokens, seeded):
    from chalicelib.booking import service as bookings
    from chalicelib.waitlist import workers

    lid, night = listing_id(WAITLIST_HOTEL), today(WAITLIST_DAYS_AHEAD)
    assert any("waitlist" in line and lid in line and "sold out" in line for line in seeded)
    day = AvailabilityDay.get(lid, night, consistent_read=True)
    assert int(day.available) == 0 and int(day.held) == int(day.capacity) > 0
    [entry] = api.get("/me/waitlist", token=tokens["traveler2"]).data["entries"]
    assert entry["status"] == "WAITING" and entry["listing_id"] == lid

    workers.sweep()  # nothing is free yet
    assert api.get("/me/waitlist", token=tokens["traveler2"]).data["entries"][0]["status"] == "WAITING"

    clock.advance(settings().hold_seconds + 1)
    bookings.release_expired_holds()
    workers.sweep()
    [entry] = api.get("/me/waitlist", token=tokens["traveler2"]).data["entries"]
    assert entry["status"] == "OFFERED"
    booking = api.get(f"/bookings/{entry['booking_id']}", token=tokens["traveler2"]).data
    assert booking["status"] == "HELD" and booking["contact"]["email"] == "traveler2@example.com"
    assert booking["items"][0]["check_in"] == night and booking["items"][0]["quantity"] == 1


def test_the_demo_traveler_gets_recommendations_and_can_review_their_stay(api, tokens, seeded):
    anchor = listing_id(ANCHOR_HOTEL)
    mine = api.get("/me/bookings", token=tokens["traveler"]).data["bookings"]
    assert [(b["status"], b["items"][0]["listing_id"], b["items"][0]["check_in"]) for b in mine] == [
        ("CONFIRMED", anchor, today(0))]
    picks = api.get("/me/recommendations", token=tokens["traveler"])
    assert picks.status_code == 200, picks.data
    found = picks.data["recommendations"]
    assert found and any(p["reason"] == "also_booked" for p in found)
    assert anchor not in {p["listing_id"] for p in found}
    assert api.get("/me/recommendations", token=tokens["traveler2"]).data["recommendations"]

    review = api.post(f"/listings/{anchor}/reviews", {"rating": 5, "comment": "Lovely"}, token=tokens["traveler"])
    assert review.status_code == 201, review.data


def _state() -> dict[str, int]:
    from chalicelib.booking.models import Booking
    from chalicelib.promotions.models import Promotion
    from chalicelib.recommendations.models import CoBooking, Popularity
    from chalicelib.reviews.models import Review
    from chalicelib.waitlist.models import WaitlistEntry

    models = {"bookings": Booking, "reviews": Review, "promotions": Promotion, "waitlist": WaitlistEntry,
              "cobookings": CoBooking}
    state = {name: sum(1 for _ in model.scan()) for name, model in models.items()}
    state["popularity"] = sum(int(p.bookings) for p in Popularity.scan())
    state["cobooked"] = sum(int(c.together) for c in CoBooking.scan())
    return state


def test_seeding_twice_adds_nothing(api, seeded):
    before = _state()
    assert before["bookings"] >= 30 and before["reviews"] >= 40 and before["promotions"] == 3
    lines: list[str] = []
    again = seed_demo_experience(progress=lines.append)
    assert lines[-1] == "Demo experience already present; nothing to add."
    assert _state() == before
    assert again == seeded
