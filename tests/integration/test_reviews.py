"""Reviews through the API (API.md "Reviews and recommendations"): who may review, once per
booking, the listing's rating updated with the review (exact under concurrency), the vendor's
one answer, plain-text comments and the paginated list."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.booking import service as bookings
from chalicelib.core import clock
from chalicelib.core.auth import Principal
from chalicelib.core.errors import AlreadyReviewed, Forbidden
from chalicelib.inventory.models import Listing
from chalicelib.reviews import service
from chalicelib.reviews.models import Review, ReviewRef
from tests.integration.booking_helpers import day, hold_a_night, make_listing, pay_booking

DAY = 86400


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], capacity=5, price=12000)


def confirmed_night(api, token: str, listing_id: str, offset: int = 2) -> str:
    """A one-night booking `offset` days from today, paid and confirmed."""
    booking_id = hold_a_night(api, token, listing_id, offset)
    assert pay_booking(api, token, booking_id).status_code == 202
    assert bookings.confirm_booking(booking_id) == "confirmed"
    return booking_id


def days_pass(n: float) -> None:
    clock.advance(n * DAY)


def review(api, token: str, listing_id: str, rating=5, comment="Lovely stay", **extra):
    return api.post(f"/listings/{listing_id}/reviews", {"rating": rating, "comment": comment, **extra}, token=token)


def written(api, token: str, listing_id: str, rating=5, comment="Lovely stay", **extra) -> dict:
    response = review(api, token, listing_id, rating, comment, **extra)
    assert response.status_code == 201, response.data
    return response.data


def rating_of(api, listing_id: str) -> dict:
    return api.get(f"/listings/{listing_id}").data["rating"]


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.data
    return response.data["error"]["code"]


def principal(api, token: str) -> Principal:
    me = api.get("/me", token=token).data
    return Principal(user_id=me["user_id"], email=me["email"], name=me["name"], roles=frozenset(me["roles"]))


def new_traveler(api, name: str) -> str:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    created = api.post("/auth/signup", {"email": email, "password": "Sunny-days-9", "name": name})
    assert created.status_code == 201, created.data
    return api.login(email, "Sunny-days-9")


@pytest.fixture
def one_dynamodb_request_at_a_time(monkeypatch):
    """moto in-process runs racing threads' requests interleaved, item by item, which DynamoDB
    never does within a transaction: one request at a time, as the emulator server does
    (tools.emulator), so the threads race the way they would against DynamoDB."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def serialized(self):
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)


# --- who may review -----------------------------------------------------------------------------


def test_a_traveler_reviews_a_listing_once_its_date_has_come(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel, offset=2)
    days_pass(2)  # 00:00 UTC of the night booked

    created = written(api, tokens["traveler"], hotel, 4, "Quiet room.\nGreat breakfast.")

    assert created["review_id"].startswith("rv_") and created["listing_id"] == hotel
    assert (created["rating"], created["comment"], created["author"]) == (4, "Quiet room.\nGreat breakfast.", "Tessa")
    assert created["created_at"].endswith("Z") and "reply" not in created
    assert rating_of(api, hotel) == {"average": 4.0, "count": 1}


def test_the_author_is_a_first_name_never_the_email(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    created = written(api, tokens["traveler"], hotel)
    listed = api.get(f"/listings/{hotel}/reviews").data["reviews"][0]
    assert created["author"] == listed["author"] == "Tessa"
    assert "traveler@example.com" not in str(listed)


def test_a_review_before_the_date_is_forbidden(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel, offset=2)
    days_pass(1)
    assert error_of(review(api, tokens["traveler"], hotel), 403) == "FORBIDDEN"
    assert rating_of(api, hotel) == {"average": None, "count": 0}


def test_a_traveler_without_a_booking_of_the_listing_may_not_review_it(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel)
    other = make_listing(api, tokens["vendor"], capacity=5)
    days_pass(3)
    assert error_of(review(api, tokens["traveler2"], hotel), 403) == "FORBIDDEN"
    assert error_of(review(api, tokens["traveler"], other), 403) == "FORBIDDEN"


def _held(api, tokens, hotel):
    return hold_a_night(api, tokens["traveler"], hotel, 2)


def _cancelled_hold(api, tokens, hotel):
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 2)
    assert api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"]).status_code in (200, 202)
    return booking_id


def _cancelled_booking(api, tokens, hotel):
    booking_id = confirmed_night(api, tokens["traveler"], hotel, 5)
    assert api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"]).status_code in (200, 202)
    return booking_id


def _expired(api, tokens, hotel):
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 2)
    assert bookings.release_expired_holds(now=clock.now() + 20 * 60)["expired"] == 1
    return booking_id


@pytest.mark.parametrize("make", [_held, _cancelled_hold, _cancelled_booking, _expired],
                         ids=["held", "cancelled-hold", "cancelled-booking", "expired"])
def test_only_a_confirmed_booking_lets_a_traveler_review(api, tokens, hotel, fake, make):
    booking_id = make(api, tokens, hotel)
    assert api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data["status"] != "CONFIRMED"
    days_pass(10)

    assert error_of(review(api, tokens["traveler"], hotel), 403) == "FORBIDDEN"
    assert error_of(review(api, tokens["traveler"], hotel, booking_id=booking_id), 403) == "FORBIDDEN"
    assert rating_of(api, hotel)["count"] == 0


@pytest.mark.parametrize("role", ["vendor", "agent", "admin"])
def test_only_travelers_write_reviews(api, tokens, hotel, role):
    assert error_of(review(api, tokens[role], hotel), 403) == "FORBIDDEN"


def test_a_review_needs_a_signed_in_traveler(api, hotel):
    assert error_of(api.post(f"/listings/{hotel}/reviews", {"rating": 5}), 401) == "UNAUTHENTICATED"


def test_an_unknown_listing_is_404(api, tokens):
    assert error_of(review(api, tokens["traveler"], "lst_" + "x" * 16), 404) == "NOT_FOUND"
    assert error_of(review(api, tokens["traveler"], "not-a-listing"), 404) == "NOT_FOUND"
    assert error_of(api.get("/listings/lst_" + "x" * 16 + "/reviews"), 404) == "NOT_FOUND"


def test_another_travelers_booking_reads_like_a_missing_one(api, tokens, hotel, fake):
    theirs = confirmed_night(api, tokens["traveler2"], hotel)
    days_pass(3)
    refused = review(api, tokens["traveler"], hotel, booking_id=theirs)
    missing = review(api, tokens["traveler"], hotel, booking_id="bk_" + "0" * 20)
    assert error_of(refused, 404) == error_of(missing, 404) == "NOT_FOUND"
    assert refused.data["error"] == missing.data["error"]


# --- one per booking ----------------------------------------------------------------------------


def test_one_review_per_booking(api, tokens, hotel, fake):
    booking_id = confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    written(api, tokens["traveler"], hotel, 5)

    again = review(api, tokens["traveler"], hotel, 1, "Changed my mind")
    named = review(api, tokens["traveler"], hotel, 1, booking_id=booking_id)

    assert error_of(again, 409) == error_of(named, 409) == "ALREADY_REVIEWED"
    assert rating_of(api, hotel) == {"average": 5.0, "count": 1}
    assert len(api.get(f"/listings/{hotel}/reviews").data["reviews"]) == 1


def test_without_a_booking_id_the_latest_booking_whose_date_has_come_is_reviewed(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel, 2)
    latest = confirmed_night(api, tokens["traveler"], hotel, 3)
    confirmed_night(api, tokens["traveler"], hotel, 9)  # made last, but its night is still ahead
    days_pass(4)

    created = written(api, tokens["traveler"], hotel, 5)

    assert ReviewRef.get(created["review_id"]).booking_id == latest


def test_without_a_booking_id_a_second_review_of_the_listing_is_409_naming_the_first(api, tokens, hotel, fake):
    """The same request sent again (its answer lost) meets the traveler's review of the listing,
    even with another stay of it left to review: never a second review."""
    confirmed_night(api, tokens["traveler"], hotel, 2)
    confirmed_night(api, tokens["traveler"], hotel, 3)
    days_pass(4)
    first = written(api, tokens["traveler"], hotel, 5)

    again = review(api, tokens["traveler"], hotel, 5)

    assert error_of(again, 409) == "ALREADY_REVIEWED"
    assert again.data["error"]["details"]["review_id"] == first["review_id"]
    assert "booking_id" in again.data["error"]["message"]
    assert rating_of(api, hotel) == {"average": 5.0, "count": 1}


def test_another_stay_is_reviewed_by_naming_its_booking(api, tokens, hotel, fake):
    older = confirmed_night(api, tokens["traveler"], hotel, 2)
    newer = confirmed_night(api, tokens["traveler"], hotel, 3)
    days_pass(4)

    first = written(api, tokens["traveler"], hotel, 5)
    second = written(api, tokens["traveler"], hotel, 3, booking_id=older)

    assert ReviewRef.get(first["review_id"]).booking_id == newer
    assert ReviewRef.get(second["review_id"]).booking_id == older
    assert rating_of(api, hotel) == {"average": 4.0, "count": 2}


def test_a_named_booking_is_the_one_reviewed(api, tokens, hotel, fake):
    older = confirmed_night(api, tokens["traveler"], hotel, 2)
    newer = confirmed_night(api, tokens["traveler"], hotel, 3)
    days_pass(4)

    named = written(api, tokens["traveler"], hotel, 2, booking_id=older)

    assert ReviewRef.get(named["review_id"]).booking_id == older
    again = review(api, tokens["traveler"], hotel, booking_id=older)
    assert error_of(again, 409) == "ALREADY_REVIEWED"
    assert again.data["error"]["details"]["review_id"] == named["review_id"]
    # A review of the listing now exists: one naming no booking is refused, naming the other is not.
    assert error_of(review(api, tokens["traveler"], hotel), 409) == "ALREADY_REVIEWED"
    assert ReviewRef.get(written(api, tokens["traveler"], hotel, 4, booking_id=newer)["review_id"]).booking_id == newer


def test_only_bookings_whose_date_has_come_count(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel, 2)
    later = confirmed_night(api, tokens["traveler"], hotel, 9)
    days_pass(3)
    written(api, tokens["traveler"], hotel)
    # The second booking's night is still ahead: reviewed all there is to review.
    assert error_of(review(api, tokens["traveler"], hotel), 409) == "ALREADY_REVIEWED"
    assert error_of(review(api, tokens["traveler"], hotel, booking_id=later), 403) == "FORBIDDEN"


def test_without_a_booking_id_the_traveler_index_is_read_only_as_far_as_the_booking_chosen(
        api, tokens, hotel, fake):
    """Newest first, page by page, stopping at the booking chosen: a page of 1 booking here
    stands for a page of 100, so the older bookings stand for pages never read."""
    from chalicelib.booking.models import Booking

    other = make_listing(api, tokens["vendor"], capacity=5)
    for offset in (2, 3, 4):
        confirmed_night(api, tokens["traveler"], other, offset)
    confirmed_night(api, tokens["traveler"], hotel, 2)  # the newest booking
    days_pass(3)
    pages: list[int] = []
    client = Booking._get_connection().connection.client

    def one_item_pages(model, params, **_):
        if params.get("TableName") == Booking.Meta.table_name:
            params["Limit"] = 1
            pages.append(1)

    client.meta.events.register("provide-client-params.dynamodb.Query", one_item_pages)
    try:
        written(api, tokens["traveler"], hotel)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", one_item_pages)
    assert len(pages) == 1


# --- the listing's rating ----------------------------------------------------------------------


def test_the_average_is_exact_after_several_reviews(api, tokens, hotel, fake):
    other_stay = confirmed_night(api, tokens["traveler"], hotel, 2)
    confirmed_night(api, tokens["traveler"], hotel, 3)
    confirmed_night(api, tokens["traveler2"], hotel, 2)
    days_pass(4)

    for token, stars in ((tokens["traveler"], 5), (tokens["traveler2"], 4)):
        written(api, token, hotel, stars)
    written(api, tokens["traveler"], hotel, 4, booking_id=other_stay)

    assert rating_of(api, hotel) == {"average": 4.33, "count": 3}
    stored = Listing.get(hotel)
    assert (int(stored.rating_sum), int(stored.rating_count), int(stored.version)) == (13, 3, 1)  # version untouched


def test_search_sorted_by_rating_follows_the_reviews(api, tokens, fake):
    a = make_listing(api, tokens["vendor"], capacity=5)
    b = make_listing(api, tokens["vendor"], capacity=5)
    confirmed_night(api, tokens["traveler"], a)
    confirmed_night(api, tokens["traveler"], b)
    confirmed_night(api, tokens["traveler2"], b)
    days_pass(3)

    def order() -> list[tuple[str, dict]]:
        response = api.get(f"/search?kind=hotel&city=PAR&check_in={day(20)}&check_out={day(21)}&sort=rating&limit=100")
        assert response.status_code == 200, response.data
        return [(r["listing_id"], r["rating"]) for r in response.data["results"] if r["listing_id"] in (a, b)]

    written(api, tokens["traveler"], a, 4)
    written(api, tokens["traveler"], b, 3)
    assert order() == [(a, {"average": 4.0, "count": 1}), (b, {"average": 3.0, "count": 1})]

    written(api, tokens["traveler2"], b, 5)  # 4.0 on two reviews ranks above 4.0 on one
    assert order() == [(b, {"average": 4.0, "count": 2}), (a, {"average": 4.0, "count": 1})]


def test_concurrent_reviews_of_one_listing_by_different_travelers_all_count(
        api, tokens, hotel, fake, one_dynamodb_request_at_a_time):
    travelers = [tokens["traveler"], tokens["traveler2"], new_traveler(api, "Nora Racer"),
                 new_traveler(api, "Omar Racer"), new_traveler(api, "Pia Racer")]
    for token in travelers:
        confirmed_night(api, token, hotel)
    people = [principal(api, token) for token in travelers]
    stars = [5, 4, 4, 2, 1]
    days_pass(3)
    start = threading.Barrier(len(people))

    def post(n: int):
        start.wait()
        return service.post_review(people[n], hotel, rating=stars[n], comment=f"racer {n}")

    with ThreadPoolExecutor(len(people)) as pool:
        results = list(pool.map(post, range(len(people))))

    assert sorted(r.rating for r in results) == sorted(stars)
    assert rating_of(api, hotel) == {"average": 3.2, "count": 5}
    assert len(list(Review.query(hotel))) == 5


def test_the_same_review_twice_at_once_is_written_once(api, tokens, hotel, fake, one_dynamodb_request_at_a_time):
    confirmed_night(api, tokens["traveler"], hotel)
    me = principal(api, tokens["traveler"])
    days_pass(3)
    start = threading.Barrier(2)

    def post(_):
        start.wait()
        try:
            return service.post_review(me, hotel, rating=5, comment="Twice?")
        except (AlreadyReviewed, Forbidden) as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(post, range(2)))

    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyReviewedError", "Review"]
    assert rating_of(api, hotel) == {"average": 5.0, "count": 1}
    assert len(list(Review.query(hotel))) == 1


def test_a_twin_that_commits_between_our_read_and_our_write_makes_ours_409(api, tokens, hotel, fake, monkeypatch):
    """The race, step by step: our request has read "not reviewed yet", the twin commits its
    review (and the listing's count moves), then ours writes: refused, decided again, 409."""
    confirmed_night(api, tokens["traveler"], hotel)
    me = principal(api, tokens["traveler"])
    days_pass(3)
    original = service._first_review
    twin: list = []

    def read_then_twin_commits(traveler_id, listing_id):
        seen = original(traveler_id, listing_id)
        if not twin:
            twin.append(None)  # the twin's own request passes through here too: once
            twin[0] = review(api, tokens["traveler"], hotel, 2, "the twin")
        return seen

    monkeypatch.setattr(service, "_first_review", read_then_twin_commits)
    with pytest.raises(AlreadyReviewed):
        service.post_review(me, hotel, rating=5, comment="ours")

    assert twin[0].status_code == 201
    assert rating_of(api, hotel) == {"average": 2.0, "count": 1}
    assert [r.comment for r in Review.query(hotel)] == ["the twin"]


def test_a_booking_cancelled_behind_a_stale_index_is_not_reviewed(api, tokens, hotel, fake, monkeypatch):
    """The traveler index is eventually consistent: it may still say CONFIRMED after a
    cancellation. The transaction's check on the booking item refuses the review."""
    from chalicelib.booking.models import Booking

    booking_id = confirmed_night(api, tokens["traveler"], hotel, 2)
    me = principal(api, tokens["traveler"])
    days_pass(3)
    original = bookings.confirmed_bookings_of_listing
    stale = list(original(me, hotel))
    Booking(booking_id).update(actions=[Booking.status.set("CANCELLED")])  # an agent's cancellation, say

    def index_lags(traveler, listing_id, booking_id=None):
        return original(traveler, listing_id, booking_id) if booking_id else stale

    monkeypatch.setattr(bookings, "confirmed_bookings_of_listing", index_lags)
    with pytest.raises(Forbidden):
        service.post_review(me, hotel, rating=5)
    assert rating_of(api, hotel)["count"] == 0 and list(Review.query(hotel)) == []


def test_a_transaction_conflict_is_retried_and_counted_once(api, tokens, hotel, fake, monkeypatch):
    # moto never raises TransactionConflict (DESIGN pitfall 8): inject one.
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    original = DynamoDBBackend.transact_write_items
    conflicts: list[int] = []

    def conflict_once(self, transact_items):
        if not conflicts:
            conflicts.append(1)
            raise TransactionCanceledException([(None, None, None)] * (len(transact_items) - 1)
                                               + [("TransactionConflict", "Transaction is ongoing", None)])
        return original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", conflict_once)
    written(api, tokens["traveler"], hotel, 3)

    assert conflicts and rating_of(api, hotel) == {"average": 3.0, "count": 1}


def test_a_listing_too_busy_to_rate_is_503_with_retry_after_and_nothing_written(api, tokens, hotel, fake,
                                                                                 monkeypatch):
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)

    def always_conflicts(self, transact_items):
        raise TransactionCanceledException([("TransactionConflict", "Transaction is ongoing", None)]
                                           + [(None, None, None)] * (len(transact_items) - 1))

    monkeypatch.setattr("chalicelib.inventory.ratings._BACKOFF_SECONDS", (0, 0))
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", always_conflicts)
    response = review(api, tokens["traveler"], hotel)
    monkeypatch.undo()

    assert error_of(response, 503) == "SERVICE_UNAVAILABLE" and response.headers["Retry-After"] == "1"
    assert rating_of(api, hotel)["count"] == 0 and list(ReviewRef.scan()) == []


# --- the vendor's answer ------------------------------------------------------------------------


def test_the_vendor_answers_a_review_once(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    review_id = written(api, tokens["traveler"], hotel, 2)["review_id"]
    path = f"/vendor/listings/{hotel}/reviews/{review_id}/reply"

    answered = api.post(path, {"body": "Sorry about the noise; fixed."}, token=tokens["vendor"])
    again = api.post(path, {"body": "Second thoughts"}, token=tokens["vendor"])

    assert answered.status_code == 201, answered.data
    assert answered.data["reply"]["body"] == "Sorry about the noise; fixed."
    assert answered.data["reply"]["created_at"].endswith("Z") and answered.data["rating"] == 2
    assert error_of(again, 409) == "ALREADY_REPLIED"
    listed = api.get(f"/listings/{hotel}/reviews").data["reviews"][0]
    assert listed["reply"]["body"] == "Sorry about the noise; fixed."


def test_another_vendor_or_another_listing_cannot_answer(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    review_id = written(api, tokens["traveler"], hotel)["review_id"]
    mine_too = make_listing(api, tokens["vendor"], capacity=1)
    body = {"body": "Thanks"}

    other_vendor = api.post(f"/vendor/listings/{hotel}/reviews/{review_id}/reply", body, token=tokens["vendor2"])
    wrong_listing = api.post(f"/vendor/listings/{mine_too}/reviews/{review_id}/reply", body, token=tokens["vendor"])
    unknown = api.post(f"/vendor/listings/{hotel}/reviews/rv_{'0' * 20}/reply", body, token=tokens["vendor"])
    traveler = api.post(f"/vendor/listings/{hotel}/reviews/{review_id}/reply", body, token=tokens["traveler"])

    assert error_of(other_vendor, 404) == error_of(wrong_listing, 404) == error_of(unknown, 404) == "NOT_FOUND"
    assert error_of(traveler, 403) == "FORBIDDEN"
    assert "reply" not in api.get(f"/listings/{hotel}/reviews").data["reviews"][0]


@pytest.mark.parametrize("body", [{}, {"body": ""}, {"body": "x" * 2001}, {"body": "a\x1b[2Jb"}])
def test_a_reply_is_plain_text_of_1_to_2000_characters(api, tokens, hotel, body):
    response = api.post(f"/vendor/listings/{hotel}/reviews/rv_{'0' * 20}/reply", body, token=tokens["vendor"])
    assert error_of(response, 400) == "VALIDATION_ERROR" and "body" in response.data["error"]["details"]["fields"]


# --- comments and input --------------------------------------------------------------------------


def test_markup_in_a_comment_is_stored_and_returned_as_text(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    comment = '<script>alert("x")</script> & <b>bold</b>\t"quoted"'

    created = written(api, tokens["traveler"], hotel, 5, comment)
    listed = api.get(f"/listings/{hotel}/reviews")

    assert created["comment"] == listed.data["reviews"][0]["comment"] == comment
    assert listed.headers["Content-Type"].startswith("application/json")
    assert Review.get(hotel, ReviewRef.get(created["review_id"]).sort_key).comment == comment


def test_a_rating_without_a_comment_is_fine(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    response = api.post(f"/listings/{hotel}/reviews", {"rating": 3}, token=tokens["traveler"])
    assert response.status_code == 201 and response.data["comment"] == ""


def test_the_longest_comment_is_kept_whole(api, tokens, hotel, fake):
    confirmed_night(api, tokens["traveler"], hotel)
    days_pass(3)
    comment = "é" * 1999 + "!"
    assert written(api, tokens["traveler"], hotel, 4, comment)["comment"] == comment


@pytest.mark.parametrize("body, field", [
    ({"rating": 0}, "rating"), ({"rating": 6}, "rating"), ({"rating": 3.5}, "rating"), ({"rating": "5"}, "rating"),
    ({"rating": True}, "rating"), ({"rating": None}, "rating"), ({"comment": "no stars"}, "rating"),
    ({"rating": 4, "comment": "c" * 2001}, "comment"), ({"rating": 4, "comment": "nul\x00here"}, "comment"),
    ({"rating": 4, "comment": "bell\x07"}, "comment"), ({"rating": 4, "comment": 5}, "comment"),
    ({"rating": 4, "booking_id": "../x"}, "booking_id"), ({"rating": 4, "stars": 4}, "stars"),
])
def test_bad_reviews_are_400_naming_the_field(api, tokens, hotel, body, field):
    response = api.post(f"/listings/{hotel}/reviews", body, token=tokens["traveler"])
    assert error_of(response, 400) == "VALIDATION_ERROR"
    assert field in response.data["error"]["details"]["fields"]


def test_a_lone_surrogate_in_a_comment_is_400_not_500(api, tokens, hotel):
    raw = '{"rating": 4, "comment": "bad \\ud800 half"}'
    response = api.post(f"/listings/{hotel}/reviews", raw, token=tokens["traveler"])
    assert error_of(response, 400) == "VALIDATION_ERROR"


# --- the list -----------------------------------------------------------------------------------


def test_reviews_are_listed_newest_first_page_by_page(api, tokens, hotel, fake):
    stays = [confirmed_night(api, tokens["traveler"], hotel, offset) for offset in (2, 3, 4)]
    days_pass(5)
    made = []
    for stars, stay in zip((3, 4, 5), stays):
        made.append(written(api, tokens["traveler"], hotel, stars, booking_id=stay)["review_id"])
        clock.advance(1)

    first = api.get(f"/listings/{hotel}/reviews?limit=2")
    assert first.status_code == 200, first.data
    second = api.get(f"/listings/{hotel}/reviews?limit=2&cursor={first.data['next_cursor']}")

    assert [r["review_id"] for r in first.data["reviews"]] == made[::-1][:2]
    assert [r["review_id"] for r in second.data["reviews"]] == made[:1]
    assert second.data["next_cursor"] is None
    assert api.get(f"/listings/{hotel}/reviews").data["next_cursor"] is None


def test_a_listing_without_reviews_lists_none(api, hotel):
    assert api.get(f"/listings/{hotel}/reviews").data == {"reviews": [], "next_cursor": None}


def test_a_tampered_or_foreign_cursor_is_400(api, tokens, hotel, fake):
    stays = [confirmed_night(api, tokens["traveler"], hotel, offset) for offset in (2, 3)]
    days_pass(4)
    for stay in stays:
        written(api, tokens["traveler"], hotel, booking_id=stay)
    cursor = api.get(f"/listings/{hotel}/reviews?limit=1").data["next_cursor"]
    other = make_listing(api, tokens["vendor"], capacity=1)
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")

    for bad in (tampered, "nonsense", cursor):
        listing_id = other if bad == cursor else hotel
        response = api.get(f"/listings/{listing_id}/reviews?cursor={bad}")
        assert error_of(response, 400) == "VALIDATION_ERROR"
        assert "cursor" in response.data["error"]["details"]["fields"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "sort=rating"])
def test_bad_list_parameters_are_400(api, hotel, query):
    assert error_of(api.get(f"/listings/{hotel}/reviews?{query}"), 400) == "VALIDATION_ERROR"
