"""The recommendations context's use cases: a traveler's recommendations and their email
preference. They return domain results, never HTTP.

A read is a fixed handful of DynamoDB round trips, whatever the number of bookings, in three
steps whose reads run side by side:

1. the traveler's most recent History items (LSI query) and their live bookings (the booking
   context's list, newest first); without history, their Profile (the places searched);
2. the sources: the most co-booked of their RECENT_SEEDS most recent listings (a query each on
   CoBooking's `by-count`) and what sells in their TOP_PLACES places (a query each on
   Popularity's `by-count`); without history, what sells where they searched, or failing
   that overall (one query per shard);
3. one BatchGetItem of the shortlisted listings and their window's (listing, date) days
   (inventory.offers; one request per 100 keys: the default limit of 10 fits one) and, beside
   it, one BatchGetItem of the traveler's History items of the shortlisted listings not among
   their most recent (History keeps every date still to come they booked a listing for, so
   no listing is offered for dates they booked, however long ago they booked it).

So with history: 2 + RECENT_SEEDS + TOP_PLACES + 2 = 9 round trips at the default limit; a
traveler without history: 3 + TOP_PLACES + 1 (searched) or 3 + SHARDS + 1 (overall); and when
none of that gives an offer, SHARDS + 2 more for what is popular overall.

What is theirs: History's dates and, for what History cannot know yet (holds, and
confirmations the worker has not counted), the live bookings among their LIVE_READ newest:
live holds are few (a traveler holds at most a handful at once) and recent.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable

from ..core import clock
from ..core.auth import Principal
from ..core.errors import ValidationError
from ..core.lazy import lazy_module
from . import domain
from .history import get_items, to_past
from .models import OPTED_IN, SHARDS, CoBooking, History, Popularity, Profile

bookings = lazy_module("chalicelib.booking.service")
inventory = lazy_module("chalicelib.inventory.offers")

LIMIT_DEFAULT = 10
LIMIT_MAX = 50
HISTORY_READ = 20  # the most recent listings a read looks at: taste, trips, seeds (candidates' own: _offers)
# the newest bookings: live holds are at most a handful (anti-hoarding limit) and recent, and a
# confirmation not counted yet is minutes old; older bookings' dates are in History
LIVE_READ = 20
RECENT_SEEDS = 3  # co-booked listings are read for this many most recent listings
TOP_PLACES = 2
SLACK = 5  # candidates read beyond the limit, for those found sold out or already theirs


@dataclass(frozen=True)
class Recommendation:
    offer: domain.Offer
    listing: Any  # inventory.offers.ListingFacts


def today_utc() -> date:
    return datetime.fromtimestamp(clock.now(), tz=timezone.utc).date()


def _all(*reads: Callable[[], Any]) -> list[Any]:
    """Independent reads at once: the round trips of a step overlap."""
    if len(reads) == 1:
        return [reads[0]()]
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        return [f.result() for f in [pool.submit(read) for read in reads]]


def _history(traveler_id: str) -> list[domain.Past]:
    return [to_past(h) for h in History.by_recency.query(traveler_id, scan_index_forward=False, limit=HISTORY_READ,
                                                         page_size=HISTORY_READ)]


def _history_of(traveler_id: str, listing_ids: list[str]) -> Callable[[], list[domain.Past]]:
    """The traveler's History items of these listings (one BatchGetItem: at most LIMIT_MAX +
    SLACK keys)."""
    def read() -> list[domain.Past]:
        return [to_past(h) for h in get_items(traveler_id, listing_ids)]
    return read


def _live(traveler: Principal) -> list[tuple[str, list[str]]]:
    """(listing_id, dates) of the traveler's live bookings among their newest."""
    page = bookings.list_my_bookings(traveler, status=None, limit=LIVE_READ, cursor=None)
    live = []
    for booking in page["bookings"]:
        if booking["status"] not in domain.LIVE:
            continue
        for item in booking["items"]:
            if item.get("date"):
                live.append((item["listing_id"], [item["date"]]))
            elif item.get("check_in") and item.get("check_out"):
                first, last = date.fromisoformat(item["check_in"]), date.fromisoformat(item["check_out"])
                live.append((item["listing_id"], [date.fromordinal(d).isoformat()
                                                  for d in range(first.toordinal(), last.toordinal())]))
    return live


def _profile(traveler_id: str) -> Profile | None:
    try:
        return Profile.get(traveler_id)
    except Profile.DoesNotExist:
        return None


def searched_places(profile: Profile | None, n: int) -> list[str]:
    """The places searched most recently first."""
    if profile is None or not profile.searched:
        return []
    searched = profile.searched.as_dict() if hasattr(profile.searched, "as_dict") else dict(profile.searched)
    return [place for place, _ in sorted(searched.items(), key=lambda kv: (-float(kv[1]), kv[0]))][:n]


def _co_booked(listing_id: str, size: int) -> Callable[[], list[domain.Candidate]]:
    def read() -> list[domain.Candidate]:
        return [domain.Candidate(c.other_id, c.other_kind, c.other_place, domain.ALSO_BOOKED, int(c.together))
                for c in CoBooking.by_count.query(listing_id, scan_index_forward=False, limit=size, page_size=size)]
    return read


def _popular(scope: str, reason: str, size: int) -> Callable[[], list[domain.Candidate]]:
    def read() -> list[domain.Candidate]:
        return [domain.Candidate(p.listing_id, p.kind, p.place, reason, int(p.bookings))
                for p in Popularity.by_count.query(scope, scan_index_forward=False, limit=size, page_size=size)]
    return read


def _flatten(lists: Iterable[list[domain.Candidate]]) -> list[domain.Candidate]:
    return [c for found in lists for c in found]


def recommend(traveler: Principal, *, limit: int = LIMIT_DEFAULT) -> list[Recommendation]:
    if not 1 <= limit <= LIMIT_MAX:
        raise ValidationError.for_fields({"limit": f"must be between 1 and {LIMIT_MAX}"})
    today = today_utc()
    size = limit + SLACK
    history, live = _all(lambda: _history(traveler.user_id), lambda: _live(traveler))
    if history:
        seeds = [p.listing_id for p in history[:RECENT_SEEDS]]
        places = domain.top_places(history, TOP_PLACES)
        mine = {p.listing_id for p in history}
        candidates = [c for c in _flatten(_all(*[_co_booked(s, size) for s in seeds],
                                               *[_popular(f"place#{p}", domain.YOUR_PLACES, size) for p in places]))
                      if not (c.reason == domain.ALSO_BOOKED and c.listing_id in mine)]  # theirs, not others'
    else:
        places = searched_places(_profile(traveler.user_id), TOP_PLACES)
        candidates = _flatten(_all(*[_popular(f"place#{p}", domain.POPULAR_IN_SEARCHED, size) for p in places])) \
            if places else []
    offers = _offers(traveler.user_id, candidates, history, live, today, limit) if candidates else []
    if not offers:
        # Nothing of their own to go on (nothing booked or searched, nobody else booked their
        # places, or all of it sold out or theirs already): what is popular overall. Its reads
        # are paid only then.
        popular = _flatten(_all(*[_popular(f"all#{s}", domain.POPULAR, size) for s in range(SHARDS)]))
        offers = _offers(traveler.user_id, popular, history, live, today, limit)
    return offers


def _offers(traveler_id: str, candidates: list[domain.Candidate], history: list[domain.Past],
            live: list[tuple[str, list[str]]], today: date, limit: int) -> list[Recommendation]:
    """The shortlist's offers over their windows (one batch read, beside the read of what
    History says of the shortlisted listings it did not return yet), sold-out and
    already-theirs ones left out, ranked."""
    traveler = domain.taste(history)
    shortlist = domain.shortlist(candidates, traveler, limit + SLACK)
    if not shortlist:
        return []
    trips = domain.upcoming_trips(history, today)
    windows = {c.listing_id: domain.window_for(c.place, trips, today) for c in shortlist}
    # A traveler without any History item has none of the shortlisted ones either.
    unseen = sorted({c.listing_id for c in shortlist} - {p.listing_id for p in history}) if history else []
    reads = [lambda: inventory.listings_with_days({c.listing_id: windows[c.listing_id].dates for c in shortlist})]
    found, *rest = _all(*reads, *([_history_of(traveler_id, unseen)] if unseen else []))
    older: list[domain.Past] = rest[0] if rest else []
    taken = domain.taken_dates([*history, *older], live)
    theirs = {p.listing_id for p in older}
    offers = []
    facts_of = {}
    for candidate in shortlist:
        if candidate.reason == domain.ALSO_BOOKED and candidate.listing_id in theirs:
            continue  # theirs, not others' (like the recent ones left out in recommend)
        entry = found.get(candidate.listing_id)
        if entry is None or entry.facts is None:
            continue
        facts = entry.facts
        window = windows[candidate.listing_id]
        if facts.place != candidate.place:  # the counts' copy was stale: the listing's own place decides
            window = domain.window_for(facts.place, trips, today)
            if window.dates != windows[candidate.listing_id].dates:
                continue  # its days were not read; it comes back once the copy is current
        days = {d: domain.Day(o.available, o.price) for d, o in entry.days.items() if o.currency == facts.currency}
        offer = domain.make_offer(candidate, facts.kind, facts.currency, window, days,
                                  taken.get(candidate.listing_id, ()))
        if offer is not None:
            offers.append((offer, candidate))
            facts_of[candidate.listing_id] = facts
    return [Recommendation(offer, facts_of[offer.listing_id]) for offer in domain.rank(offers, traveler, limit)]


# --- preferences ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preferences:
    recommendation_emails: bool


def get_preferences(traveler: Principal) -> Preferences:
    profile = _profile(traveler.user_id)
    return Preferences(recommendation_emails=bool(profile and profile.weekly == OPTED_IN))


def set_preferences(traveler: Principal, *, recommendation_emails: bool) -> Preferences:
    """Opting in records where to send (the token's email and name); opting out takes the
    traveler off the weekly index. One UpdateItem either way; repeating it changes nothing."""
    now = clock.now()
    if recommendation_emails:
        if not traveler.email:
            raise ValidationError.for_fields({"recommendation_emails": "your account has no email address"})
        actions = [Profile.weekly.set(OPTED_IN), Profile.email.set(traveler.email),
                   Profile.updated_at.set(now)]
        actions.append(Profile.name.set(traveler.name) if traveler.name else Profile.name.remove())
    else:
        actions = [Profile.weekly.remove(), Profile.updated_at.set(now)]
    Profile(traveler.user_id).update(actions=actions)
    return Preferences(recommendation_emails=recommendation_emails)
