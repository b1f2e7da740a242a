"""The weekly email of top picks, to travelers who opted in (PUT /me/preferences).

The schedule pages through the sparse `weekly-opted-in` index (never a scan). Each traveler's
email is claimed for the ISO week on their Profile before it is sent, with a condition: they
are still opted in, and this week's email is not already sent or being sent. So a re-run the
same week (or two runs at once) sends nobody twice; a send that failed, or a run that died
between the claim and the send for more than STALE_CLAIM_SECONDS, is tried again by the next
run. Running the schedule more often than weekly is therefore safe, and it is how a run cut
short by its time budget finishes the week. A traveler with no picks is marked done for the
week without an email.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from pynamodb.exceptions import UpdateError

from ..core import clock
from ..core.auth import Principal
from ..core.observability import count, logger
from ..notify.email import send_email
from ..notify.templates import render_picks_email
from . import service
from .models import OPTED_IN, Profile

PICKS = 5
SENDING, SENT, NONE, FAILED = "sending", "sent", "none", "failed"
STALE_CLAIM_SECONDS = 900  # a claim older than this whose run never finished is taken again
BUDGET_SECONDS = 540.0  # stop starting new travelers a minute before the function's 600 s timeout
PAGE = 50


def iso_week(now: float) -> str:
    year, week, _ = datetime.fromtimestamp(now, tz=timezone.utc).isocalendar()
    return f"{year}-W{week:02d}"


def send_weekly_picks(now: float | None = None, *, budget_seconds: float = BUDGET_SECONDS) -> dict[str, int]:
    now = clock.now() if now is None else now
    week = iso_week(now)
    started = time.monotonic()
    tally = {"sent": 0, "no_picks": 0, "already": 0, "failed": 0, "stopped": 0}
    for profile in Profile.by_opted_in.query(OPTED_IN, page_size=PAGE):
        if time.monotonic() - started > budget_seconds:
            tally["stopped"] = 1  # the next run (same week) continues: claims make it idempotent
            logger.warning("weekly picks stopped at its time budget", extra={"week": week, **tally})
            break
        tally[_one(profile, week, now)] += 1
    count("WeeklyPicksSent", tally["sent"])
    logger.info("weekly picks", extra={"week": week, **tally})
    return tally


def _claim(traveler_id: str, week: str, now: float) -> bool:
    p = Profile
    fresh = p.picks_week.does_not_exist() | (p.picks_week != week)
    retry = (p.picks_state == FAILED) | ((p.picks_state == SENDING) & (p.picks_at < now - STALE_CLAIM_SECONDS))
    try:
        Profile(traveler_id).update(
            actions=[p.picks_week.set(week), p.picks_state.set(SENDING), p.picks_at.set(now)],
            condition=(p.weekly == OPTED_IN) & (fresh | retry))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _finish(traveler_id: str, week: str, state: str) -> None:
    try:
        Profile(traveler_id).update(actions=[Profile.picks_state.set(state)],
                                    condition=Profile.picks_week == week)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def _pick(recommendation: service.Recommendation) -> dict[str, Any]:
    offer, listing = recommendation.offer, recommendation.listing
    return {"title": listing.title, "kind": listing.kind, "place": listing.place,
            "price": {"amount": offer.price, "currency": offer.currency}, "dated": offer.dated,
            "date": offer.date, "check_in": offer.check_in, "check_out": offer.check_out}


def _one(profile: Profile, week: str, now: float) -> str:
    if not profile.email or not _claim(profile.traveler_id, week, now):
        return "already"
    try:
        traveler = Principal(user_id=profile.traveler_id, email=profile.email, name=profile.name or "",
                             roles=frozenset({"travelers"}))
        picks = service.recommend(traveler, limit=PICKS)
        if not picks:
            _finish(profile.traveler_id, week, NONE)
            return "no_picks"
        subject, text, markup = render_picks_email(profile.name or "", [_pick(r) for r in picks])
        send_email(profile.email, subject, text, markup, {"email_event": "weekly_picks", "week": week})
    except Exception:
        logger.exception("weekly picks not sent", extra={"week": week})
        _finish(profile.traveler_id, week, FAILED)  # the next run tries again
        return "failed"
    _finish(profile.traveler_id, week, SENT)
    return "sent"
