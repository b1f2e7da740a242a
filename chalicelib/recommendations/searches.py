"""Where a signed-in traveler searched: what a traveler without bookings is recommended from.

Called by the search route only when the request carries a token, after the search answered:
an anonymous search does no extra work. Best effort: a bad token, another role, or DynamoDB
refusing the write never fails the search (the token is not required there). One UpdateItem
in the usual case: `searched.<place> = now` on the traveler's Profile, allowed while the map
holds fewer than MAX_SEARCHED places (or already holds this one); a full map, or none yet, is
replaced by the MAX_SEARCHED - 1 most recent places plus this one (a read and a write, once in
a while).
"""
from __future__ import annotations

from typing import Any, Mapping

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from ..core import clock
from ..core.auth import authenticate
from ..core.errors import ApiError
from ..core.lazy import lazy_module
from ..core.observability import logger
from .models import Profile

inventory = lazy_module("chalicelib.inventory.offers")

MAX_SEARCHED = 8
TRAVELERS = "travelers"


def searched_place(kind: str, city: str | None, destination: str | None) -> str | None:
    """The city a search looks at: where the stay, event or service is, or where the flight goes."""
    code = destination if kind == "flight" else city
    return inventory.city_of(code) if code else None


def note(headers: Mapping[str, str], kind: str, city: str | None, destination: str | None) -> bool:
    """Records the searched place for the token's traveler; True when recorded."""
    try:
        principal = authenticate(headers)
    except ApiError:
        return False  # the search is public: a stale or bad token only means nothing is recorded
    except Exception:  # the keys could not be read, say: still never the search's failure
        logger.exception("search token not checked; searched place not recorded")
        return False
    place = searched_place(kind, city, destination)
    if TRAVELERS not in principal.roles or not place:
        return False
    try:
        record(principal.user_id, place)
    except Exception:  # never fail a search for a recommendation hint
        logger.exception("searched place not recorded", extra={"place": place})
        return False
    return True


def record(traveler_id: str, place: str, now: float | None = None) -> None:
    now = clock.now() if now is None else now
    path = Profile.searched[place]  # type: ignore[index]
    try:
        Profile(traveler_id).update(
            actions=[path.set(now)],
            condition=Profile.searched.exists() & (path.exists() | (size(Profile.searched) < MAX_SEARCHED)))
        return
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
    _replace(traveler_id, place, now)


def _replace(traveler_id: str, place: str, now: float) -> None:
    """The map is full or missing: keep the most recent places and this one. A concurrent
    search may lose its place here: a hint, not a record anyone relies on."""
    try:
        current: dict[str, Any] = Profile.get(traveler_id, consistent_read=True).searched
        current = current.as_dict() if current is not None and hasattr(current, "as_dict") else dict(current or {})
    except Profile.DoesNotExist:
        current = {}
    kept = sorted(((p, float(t)) for p, t in current.items() if p != place), key=lambda pt: -pt[1])
    searched = dict(kept[:MAX_SEARCHED - 1])
    searched[place] = now
    Profile(traveler_id).update(actions=[Profile.searched.set(searched)])
