"""The reviews context's use cases: write a review, list a listing's reviews, answer one.
They return domain results, never HTTP.

Writing a review, in round trips: the traveler's first review of the listing, if any (one
consistent GetItem on their (traveler, listing) key: without `booking_id` it is a 409 right
there); the booking (one consistent GetItem when the client names it, else the traveler index
read newest first, a Query page of 100 at a time, stopping at the first booking whose date has
come, at most 5 pages); with a named booking, whether it has its review (one consistent GetItem);
the listing's rating (one consistent GetItem); then ONE TransactWriteItems: the listing's new
rating (conditioned on the count read), the review, its id marker (`attribute_not_exists`: one
review per booking), the traveler's (traveler, listing) key when they had none
(`attribute_not_exists`: a review naming no booking is written only once per traveler and
listing, so a retried request cannot review another stay) and a check that the booking is still
CONFIRMED.
"""
from __future__ import annotations

import functools

from pynamodb.exceptions import UpdateError

from ..core import clock, pagination
from ..core.auth import Principal
from ..core.errors import AlreadyReplied, AlreadyReviewed, Forbidden, NotFound, ServiceUnavailable, ValidationError
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from . import domain
from .models import ReplyAttribute, Review, ReviewRef

# Other contexts are reached through their service functions (DESIGN "Shape"); the listing's
# rating through the inventory's one operation that changes it, inside our transaction.
bookings = lazy_module("chalicelib.booking.service")
inventory = lazy_module("chalicelib.inventory.service")
ratings = lazy_module("chalicelib.inventory.ratings")

# A lost race (a twin request, another review of the traveler's committed between our reads and
# our write, a booking cancelled behind a stale index) is decided again from fresh reads: the
# twin of a request ends on 409; a request naming another booking writes that one's review.
_CHOICE_ATTEMPTS = 4


# --- records ------------------------------------------------------------------------------------


def _to_domain(item: Review) -> domain.Review:
    reply = None
    if item.reply is not None:
        reply = domain.Reply(body=item.reply.body, created_at=float(item.reply.created_at))
    return domain.Review(review_id=item.review_id, listing_id=item.listing_id, booking_id=item.booking_id,
                         traveler_id=item.traveler_id, author=item.author, rating=int(item.rating),
                         comment=item.comment or "", created_at=float(item.created_at), reply=reply)


def _add_review_items(tx, review: domain.Review, first_of_traveler: bool) -> None:
    bookings.require_confirmed(tx, review.booking_id)
    if first_of_traveler:
        # Read absent: put it, on that condition (a twin, or a review of another stay, that lands
        # first refuses this whole write, which is then decided again).
        tx.save(ReviewRef(domain.traveler_review_key(review.traveler_id, review.listing_id),
                          listing_id=review.listing_id, sort_key=review.sort_key, booking_id=review.booking_id,
                          traveler_id=review.traveler_id),
                condition=ReviewRef.review_id.does_not_exist())
    tx.save(Review(review.listing_id, review.sort_key, review_id=review.review_id, booking_id=review.booking_id,
                   traveler_id=review.traveler_id, author=review.author, rating=review.rating,
                   comment=review.comment or None, created_at=review.created_at),
            condition=Review.sort_key.does_not_exist())
    tx.save(ReviewRef(review.review_id, listing_id=review.listing_id, sort_key=review.sort_key,
                      booking_id=review.booking_id, traveler_id=review.traveler_id),
            condition=ReviewRef.review_id.does_not_exist())


def _reviewed(review_id: str) -> bool:
    """Whether this review exists: one consistent GetItem."""
    return _get_ref(review_id) is not None


def _first_review(traveler_id: str, listing_id: str) -> ReviewRef | None:
    """The traveler's first review of the listing (its key's item), or None: one consistent GetItem."""
    return _get_ref(domain.traveler_review_key(traveler_id, listing_id))


def _get_ref(key: str) -> ReviewRef | None:
    try:
        return ReviewRef.get(key, consistent_read=True)
    except ReviewRef.DoesNotExist:
        return None


def _still_confirmed(traveler: Principal, listing_id: str, booking_id: str) -> bool:
    return next(iter(bookings.confirmed_bookings_of_listing(traveler, listing_id, booking_id)), None) is not None


def _check_input(**fields: str | None) -> None:
    problems = {name: problem for name, problem in fields.items() if problem}
    if problems:
        raise ValidationError.for_fields(problems)


# --- use cases ----------------------------------------------------------------------------------


def post_review(traveler: Principal, listing_id: str, *, rating: int, comment: str = "",
                booking_id: str | None = None) -> domain.Review:
    """The traveler's review of a listing they booked.

    With `booking_id`: that booking's review, written once (409 ALREADY_REVIEWED for it again).
    Without: the review of the listing, written only while the traveler has none of it through
    any booking, for their most recently made CONFIRMED booking of it whose date has come; a
    traveler who has one gets 409 ALREADY_REVIEWED naming it (to review another stay, name its
    booking). So the same request retried after a lost answer is a 409, never a second review.

    404 for an unknown listing (or a booking_id that is not theirs); 403 without a CONFIRMED
    booking of the listing whose first date has come; 400 naming `booking_id` when none is
    among the traveler's latest 500 bookings (booking.reviewable bounds the read)."""
    _check_input(rating=domain.rating_problem(rating), comment=domain.text_problem(comment, domain.MAX_COMMENT))
    gone: set[str] = set()  # bookings found CONFIRMED on the index that no longer are
    for _ in range(_CHOICE_ATTEMPTS):
        first = _first_review(traveler.user_id, listing_id)
        if first is not None and booking_id is None:
            earlier = domain.review_id_for(first.booking_id, listing_id)
            raise AlreadyReviewed("You have already reviewed this listing. To review another stay of it, "
                                  "name that stay's booking_id.",
                                  {"listing_id": listing_id, "review_id": earlier,
                                   "to_review_another_stay": "name its booking_id"})
        found = (domain.BookingOfListing(b.booking_id, b.created_at, b.first_date)
                 for b in bookings.confirmed_bookings_of_listing(traveler, listing_id, booking_id)
                 if b.booking_id not in gone)
        now = clock.now()
        try:
            booking = domain.choose_booking(found, now)
        except domain.NotEligible:
            inventory.get_listing(listing_id)  # an unknown listing is 404, not 403
            raise Forbidden("Only a traveler with a confirmed booking of this listing may review it, "
                            "once the booking's date has come.") from None
        review = domain.new_review(booking=booking, listing_id=listing_id, traveler_id=traveler.user_id,
                                   traveler_name=traveler.name, rating=rating, comment=comment, now=now)
        if booking_id is not None and _reviewed(review.review_id):
            raise AlreadyReviewed("You have already reviewed this booking's stay.",
                                  {"listing_id": listing_id, "booking_id": booking_id, "review_id": review.review_id})
        try:
            after = ratings.add_rating(listing_id, rating, functools.partial(
                _add_review_items, review=review, first_of_traveler=first is None))
        except ratings.ItemsRefused as exc:
            # A twin or another review of the traveler's landed first, or the booking is no longer
            # CONFIRMED (the traveler index may lag a cancellation: the booking itself says,
            # consistently; a named booking is read consistently again anyway).
            logger.info("review write refused; deciding again", extra={"listing_id": listing_id,
                                                                      "reasons": exc.reasons})
            if booking_id is None and not _still_confirmed(traveler, listing_id, booking.booking_id):
                gone.add(booking.booking_id)
            continue
        count("ReviewWritten")
        logger.info("review written", extra={"listing_id": listing_id, "review_id": review.review_id,
                                             "rating_count": after.rating_count})
        return review
    raise ServiceUnavailable("Your reviews of this listing are changing right now; retry in a moment.",
                             headers={"Retry-After": "1"})


def list_reviews(listing_id: str, *, limit: int, cursor: str | None) -> tuple[list[domain.Review], str | None]:
    """A listing's reviews, newest first: one Query read backwards (after the listing's GetItem:
    an unknown listing is 404, not an empty list)."""
    inventory.get_listing(listing_id)
    query = functools.partial(Review.query, listing_id, scan_index_forward=False)
    items, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor, scope=f"reviews:{listing_id}")
    return [_to_domain(item) for item in items], next_cursor


def reply(vendor: Principal, listing_id: str, review_id: str, body: str) -> domain.Review:
    """The listing's vendor answers a review, once (409 ALREADY_REPLIED after). Another vendor's
    listing, an unknown review or one of another listing: 404."""
    _check_input(body=domain.text_problem(body, domain.MAX_REPLY))
    inventory.own_listing(inventory.vendor_of(vendor), listing_id)
    ref = _ref(review_id)
    if ref is None or ref.listing_id != listing_id:
        raise NotFound("No such review.")
    item = Review(listing_id, ref.sort_key)
    try:
        # One conditional write: two answers at once, or a retry, cannot both land.
        item.update(actions=[Review.reply.set(ReplyAttribute(body=body, created_at=clock.now()))],
                    condition=Review.sort_key.exists() & Review.reply.does_not_exist())
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        try:
            answered = Review.get(listing_id, ref.sort_key, consistent_read=True)
        except Review.DoesNotExist:
            raise NotFound("No such review.") from None
        if answered.reply is not None:
            raise AlreadyReplied("This review already has the vendor's answer.", {"review_id": review_id}) from None
        raise
    count("ReviewReplied")
    return _to_domain(item)


def _ref(review_id: str) -> ReviewRef | None:
    if not domain.is_review_id(review_id):
        return None  # nor a traveler's (traveler, listing) key: those are not reviews
    return _get_ref(review_id)
