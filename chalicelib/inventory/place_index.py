"""Places on sale, for search-box autocomplete (`GET /places`, API.md).

Reading: a Query of the places table (models.PlaceEntry), never a scan. Every place has one
item per term (inventory.places.terms: code, name from each word on, an airport's city's name),
keyed `initial = <first character>`, `term_code = <term>#<code>`, so a prefix is one partition
and one key range. A place found by several terms is shown once. A place is shown with the
kinds whose last date on sale is not past, and not at all when no kind is left; "past" is
as search sees it (domain.earliest_today): a date stays searchable, and so its place findable,
until it is over everywhere on Earth. Past entries are dropped by a FilterExpression, which
DynamoDB applies after Limit: when a page holds too few places on sale, the next page is read,
up to MAX_PAGES Queries (one in the normal case). Entries carry a TTL (`expires_at`,
EXPIRES_AFTER_DAYS after their latest date), so DynamoDB deletes past ones and few stay to
be read past. A prefix longer than any stored term (places.MAX_TERM_BYTES) finds nothing and
sends no Query (it could not even be a key).

Writing: every availability update that offers a date (capacity > 0) makes sure every item of
the listing's places (places.places_of_listing) is listed for its kind until at least the
update's latest such date. What the items hold is read first (one BatchGetItem, eventually
consistent) and only the items behind are written, by a conditional update
(`attribute_not_exists OR until_<kind> < :date`) that creates a missing item and never moves a
date back, whatever the order concurrent vendors' updates land in; an update whose dates are
already listed that far writes nothing. Reading the index, not comparing with the stored
availability, is what lets a retry repair a crash: the process may die after the availability
commit and before the index write, and the vendor's retry of the same update (its dates now
already saved) still finds the items behind and writes them.

The index is kept after the availability write succeeded and cannot fail the vendor's request:
a failure is retried, then logged with what was not recorded and counted (metric
`PlaceIndexFailures`, for an alarm). It heals with the listing's next update that offers a
date that late or later, or by replaying the logged `extend_listing`.

Only ever extended: a place stays listed until its last date on sale passes, even when every
unit is sold or a vendor sets capacity 0 later (search then finds nothing there, which is
cheaper than recomputing every place on every booking).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from botocore.exceptions import ClientError

from ..core.observability import count, logger
from . import domain
from .domain import DaySetting
from .models import PlaceEntry
from .places import Place, fits, normalize, places_of_listing, rank, terms

# Items one page may read. A place is found by up to a handful of terms of the same prefix
# and expired items are read before the filter drops them: read more than the answer shows, but
# a bounded amount (at most 300 small items a page, well under DynamoDB's 1 MB page).
READ_PER_PLACE = 6
READ_MIN = 20
READ_MAX = 300
# Queries one answer may take. Past entries still count in Limit (the filter comes after it);
# the TTL keeps them few, and this keeps a prefix full of them bounded: at most
# read_budget + 3 * READ_MAX items read, then the answer is what was found.
MAX_PAGES = 4
# DynamoDB deletes an entry this long after its latest date: well after search stops showing
# it (a day or so, domain.earliest_today), and TTL deletion itself may lag by days.
EXPIRES_AFTER_DAYS = 7
BATCH_GET_MAX = 100
INDEX_ATTEMPTS = 3


def _attr(kind: str) -> str:
    return f"until_{kind}"


def _client() -> Any:
    return PlaceEntry._get_connection().connection.client  # the models' one client (core.aws)


def _key(term: str, code: str) -> dict[str, dict[str, str]]:
    return {"initial": {"S": term[0]}, "term_code": {"S": f"{term}#{code}"}}


# --- reading ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    place: Place
    kinds: tuple[str, ...]  # in domain.KINDS order


def read_budget(limit: int) -> int:
    return max(READ_MIN, min(READ_MAX, limit * READ_PER_PLACE))


def find(q: str, *, limit: int) -> list[Found]:
    """The places on sale whose code or name starts with `q` (any case, any accents).

    One Query, unless past entries fill its page: then the next pages (ExclusiveStartKey), until
    `limit` places are found, the prefix's range ends, or MAX_PAGES Queries were made.
    """
    query = normalize(q)
    if not query or not fits(query):
        return []  # longer than any term: nothing starts with it
    today = domain.earliest_today(domain.utc_now()).isoformat()
    names = {f"#{kind[0]}": _attr(kind) for kind in domain.KINDS}
    request: dict[str, Any] = {
        "TableName": PlaceEntry.Meta.table_name,
        "KeyConditionExpression": "initial = :i AND begins_with(term_code, :p)",
        # Expired entries are dropped by DynamoDB, not shipped; they still count in Limit.
        "FilterExpression": " OR ".join(f"{name} >= :t" for name in names),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":i": {"S": query[0]}, ":p": {"S": query}, ":t": {"S": today}},
        "Limit": read_budget(limit)}
    entries: list[tuple[Place, dict[str, str]]] = []
    for _ in range(MAX_PAGES):
        response = _client().query(**request)
        entries += [_entry(item) for item in response.get("Items", [])]
        start = response.get("LastEvaluatedKey")
        # Every entry that passed the filter is a place on sale (pick keeps it).
        if not start or len({place.code for place, _ in entries}) >= limit:
            break
        # This page was mostly past entries: read on, a full page at a time.
        request.update(ExclusiveStartKey=start, Limit=READ_MAX)
    return pick(entries, query, today, limit)


def _entry(item: Mapping[str, Any]) -> tuple[Place, dict[str, str]]:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    place = Place(text("code") or "", text("type") or "city", text("name") or "",  # type: ignore[arg-type]
                  text("city") or "", text("country"))
    until = {kind: value for kind in domain.KINDS if (value := text(_attr(kind)))}
    return place, until


def pick(entries: Iterable[tuple[Place, Mapping[str, str]]], query: str, today: str,
         limit: int) -> list[Found]:
    """One answer per code with the kinds still on sale (the latest date any of its entries
    holds: entries of a place can lag one another after a failed update), best first."""
    places: dict[str, Place] = {}
    until: dict[str, dict[str, str]] = {}
    for place, dates in entries:
        places.setdefault(place.code, place)
        latest = until.setdefault(place.code, {})
        for kind, day in dates.items():
            if day > latest.get(kind, ""):
                latest[kind] = day
    found = [Found(place, tuple(k for k in domain.KINDS if until[code].get(k, "") >= today))
             for code, place in places.items()]
    found = [f for f in found if f.kinds]
    found.sort(key=lambda f: rank(query, f.place))
    return found[:limit]


# --- keeping it current -------------------------------------------------------------------------

def on_sale_until(settings: Mapping[date, DaySetting]) -> date | None:
    """The date the places of a listing must be listed until after this update (its latest date
    with units), or None when it offers nothing."""
    offered = [day for day, setting in settings.items() if setting.capacity > 0]
    return max(offered) if offered else None


def expiry(day: str) -> int:
    """When DynamoDB may delete an entry listed until `day` (epoch seconds, its TTL)."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=timezone.utc)
    return int((start + timedelta(days=EXPIRES_AFTER_DAYS)).timestamp())


def extend(kind: str, until: date, places: Iterable[Place]) -> int:
    """List `places` for `kind` until at least `until`; returns the items written.

    Idempotent and order-free: safe to repeat, to replay, and to run beside other vendors'.
    """
    attr, day = _attr(kind), until.isoformat()
    wanted = {(term, place.code): place for place in places for term in terms(place)}
    held = _read_until(attr, list(wanted))
    written = 0
    for (term, code), place in wanted.items():
        if held.get((term, code), "") >= day:
            continue
        if _extend_item(term, place, attr, day):
            written += 1
    return written


def extend_listing(kind: str, until: date, *, city: str | None = None, origin: str | None = None,
                   destination: str | None = None) -> int:
    """`extend` for the places a listing is sold at (also for seeding a catalog)."""
    return extend(kind, until, places_of_listing(kind, city=city, origin=origin, destination=destination))


def after_availability(listing: Any, settings: Mapping[date, DaySetting]) -> None:
    """The availability update's hook (inventory.availability), after its commit: never raises.

    Runs for every update that offers a date, even one whose dates were on sale already: the
    update may be the retry of one whose process died before getting here.
    """
    until = on_sale_until(settings)
    if until is None:
        return
    where = {"city": listing.city, "origin": listing.origin, "destination": listing.destination}
    for attempt in range(INDEX_ATTEMPTS):
        try:
            extend_listing(listing.kind, until, **where)
            return
        except Exception as exc:  # noqa: BLE001  the vendor's dates are saved whatever happens here
            error = exc
            if attempt + 1 < INDEX_ATTEMPTS:
                time.sleep(random.uniform(0, 0.05 * 2 ** attempt))
    # Everything needed to replay it: extend_listing(kind, until, **where).
    logger.error("places index not extended", extra={
        "listing_id": listing.listing_id, "kind": listing.kind, "until": until.isoformat(),
        **{k: v for k, v in where.items() if v}, "error": type(error).__name__})
    count("PlaceIndexFailures")


def _read_until(attr: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """What each entry holds for `attr` now (absent entries are left out)."""
    table = PlaceEntry.Meta.table_name
    held: dict[tuple[str, str], str] = {}
    for start in range(0, len(keys), BATCH_GET_MAX):
        pending: dict[str, Any] = {table: {
            "Keys": [_key(term, code) for term, code in keys[start:start + BATCH_GET_MAX]],
            # Eventually consistent is enough: dates only move later, so a stale read can only
            # cost a conditional write that was not needed, never skip one that was.
            "ProjectionExpression": "term_code, #u", "ExpressionAttributeNames": {"#u": attr}}}
        for attempt in range(8):
            response = _client().batch_get_item(RequestItems=pending)
            for item in response["Responses"].get(table, []):
                if attr in item:
                    term, code = item["term_code"]["S"].rsplit("#", 1)
                    held[term, code] = item[attr]["S"]
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2 ** attempt)))  # throttled: back off
        else:
            raise RuntimeError("places table kept keys unprocessed")
    return held


def _extend_item(term: str, place: Place, attr: str, day: str) -> bool:
    """One entry: created, or its date for the kind moved later. False when it already is.

    The TTL (`expires_at`) follows the entry's latest date of any kind, so it is moved with the
    date only when that is later than the TTL already set; otherwise (another kind is listed
    later) the date alone is moved. DynamoDB has no max(): that is two conditional forms, the
    second tried only when the first is refused. Both only ever move values later.
    """
    names = {"#c": "code", "#t": "type", "#n": "name", "#ci": "city", "#co": "country", "#u": attr,
             "#x": "expires_at"}
    values = {":c": {"S": place.code}, ":t": {"S": place.type}, ":n": {"S": place.name},
              ":ci": {"S": place.city}, ":d": {"S": day}, ":x": {"N": str(expiry(day))}}
    fields = "SET #c = :c, #t = :t, #n = :n, #ci = :ci, #u = :d"
    if place.country:
        values[":co"] = {"S": place.country}
        fields += ", #co = :co"
    remove = "" if place.country else " REMOVE #co"
    behind = "(attribute_not_exists(#u) OR #u < :d)"
    attempts = (
        (fields + ", #x = :x" + remove, f"{behind} AND (attribute_not_exists(#x) OR #x <= :x)"),
        (fields + remove, f"{behind} AND #x > :x"),  # a later kind holds the TTL: keep it
    )
    for update, condition in attempts:
        try:
            _client().update_item(TableName=PlaceEntry.Meta.table_name, Key=_key(term, place.code),
                                  UpdateExpression=update, ExpressionAttributeNames=names,
                                  ExpressionAttributeValues=values, ConditionExpression=condition)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
    return False  # another update got it as far or further: that is all we wanted
