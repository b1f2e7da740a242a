"""Request and response shapes of the review routes (API.md "Reviews and recommendations")."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from ..core.schemas import Input, Output, Page, PageQuery
from . import domain

_BOOKING_ID = r"^[A-Za-z0-9_-]{1,80}$"


def _comment(value: str) -> str:
    problem = domain.text_problem(value, domain.MAX_COMMENT)
    if problem:
        raise ValueError(problem)
    return value


def _reply(value: str) -> str:
    problem = domain.text_problem(value, domain.MAX_REPLY)
    if problem:
        raise ValueError(problem)
    return value


# Strict: 3.5, "5" and true are refused rather than read as stars.
Stars = Annotated[int, Field(strict=True, ge=domain.MIN_RATING, le=domain.MAX_RATING,
                             description=f"Whole stars, {domain.MIN_RATING}-{domain.MAX_RATING}")]


class NewReview(Input):
    rating: Stars
    comment: Annotated[str, AfterValidator(_comment)] = Field(
        default="", max_length=domain.MAX_COMMENT,
        description="Plain text (newlines and tabs kept; no markup is interpreted); may be empty")
    booking_id: str | None = Field(
        default=None, pattern=_BOOKING_ID,
        description="The booking whose stay is reviewed; its review is written once (409 ALREADY_REVIEWED for "
                    "it again). Without it: your review of the listing, for your latest confirmed booking of "
                    "it whose date has come, written only if you have no review of this listing yet (else 409 "
                    "ALREADY_REVIEWED naming your review_id), so a retried request never writes a second "
                    "review; name booking_id to review another stay. Only your latest 500 bookings are "
                    "searched without it (400 VALIDATION_ERROR naming booking_id past them).")


class NewReply(Input):
    body: Annotated[str, AfterValidator(_reply)] = Field(min_length=1, max_length=domain.MAX_REPLY,
                                                         description="Plain text")


class ReviewsQuery(PageQuery):
    """`?limit=&cursor=` of a listing's reviews."""


class ReplyOut(Output):
    body: str
    created_at: str


class ReviewOut(Output):
    review_id: str
    listing_id: str
    rating: int = Field(ge=domain.MIN_RATING, le=domain.MAX_RATING)
    comment: str = Field(description="Plain text exactly as written: escape it where you render it")
    author: str = Field(description="The traveler's first name, or \"Traveler\"")
    created_at: str
    reply: ReplyOut | None = Field(default=None, description="The vendor's answer, once given")


class ReviewPage(Page):
    reviews: list[ReviewOut]
