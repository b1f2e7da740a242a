"""Catalog, search, vendor inventory and vendor onboarding routes (API.md). Parse, call, shape."""
from __future__ import annotations

from chalice import Blueprint

from typing import TYPE_CHECKING, Any

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module
from . import faq

if TYPE_CHECKING:
    from .schemas import (AvailabilityOut, Faq, ListingOut, ListingPage, PlacesOut, SearchPage, Updated,
                          VendorOut, VendorPage)

bp = Blueprint(__name__)
# Loaded by the first request that needs them (PynamoDB, botocore, pydantic): see core.lazy.
service = lazy_module(__package__ + ".service")
shapes = lazy_module(__package__ + ".shapes")
search_rules = lazy_module(__package__ + ".search_rules")
search_plain = lazy_module(__package__ + ".search_plain")
searches = lazy_module("chalicelib.recommendations.searches")
place_index = lazy_module(__package__ + ".place_index")
schemas = lazy_models(__package__ + ".schemas")
VENDORS = ("vendors",)
ADMINS = ("admins",)

# --- public -----------------------------------------------------------------------------------


def _plain_search_query(params: dict[str, str]) -> Any:
    return search_plain.parse_query(params)


# The usual search is answered without pydantic (search_plain); anything else goes through the
# models, which decide every answer the plain path does not take.
@endpoint(bp, "GET", "/search", query=schemas.SearchQuery, response=schemas.SearchPage, tag="catalog",
          summary="Search flights, hotel stays, events and services with units available",
          plain_query=_plain_search_query)
def search(call: Call) -> SearchPage | dict[str, Any]:
    q = call.query
    params = search_rules.SearchParams(kind=q.kind, quantity=q.quantity, city=q.city, origin=q.origin,
                                       destination=q.destination, date=q.date, check_in=q.check_in,
                                       check_out=q.check_out, max_price=q.max_price, currency=q.currency,
                                       sort=q.sort)
    offers, next_cursor = service.search(params, limit=q.limit, cursor=q.cursor)
    if q.cursor is None and call.headers.get("authorization"):
        # A signed-in traveler's first page: where they look feeds their recommendations.
        # Anonymous searches skip this (no token check, no write); it never fails a search.
        searches.note(call.headers, q.kind, q.city, q.destination)
    page = search_plain.search_page(offers, params.kind, params.check_in, params.check_out, params.date,
                                    next_cursor)
    if page is not None:
        return page
    return schemas.SearchPage(results=[shapes.search_result(o, params) for o in offers],
                              next_cursor=next_cursor)


@endpoint(bp, "GET", "/places", query=schemas.PlacesQuery, response=schemas.PlacesOut, tag="catalog",
          summary="Places with something on sale, by code or name prefix (search-box autocomplete)")
def find_places(call: Call) -> PlacesOut:
    found = place_index.find(call.query.q, limit=call.query.limit)
    return schemas.PlacesOut(places=[
        schemas.PlaceOut(code=f.place.code, type=f.place.type, name=f.place.name, city=f.place.city,
                         country=f.place.country, kinds=list(f.kinds)) for f in found])


@endpoint(bp, "GET", "/listings/{listing_id}", response=schemas.ListingOut, tag="catalog",
          summary="A listing with its cancellation policy and rating", errors=("NOT_FOUND",))
def get_listing(call: Call) -> ListingOut:
    return shapes.listing_out(service.get_listing(call.params["listing_id"]))


@endpoint(bp, "GET", "/listings/{listing_id}/availability", query=schemas.AvailabilityQuery,
          response=schemas.AvailabilityOut, tag="catalog", errors=("NOT_FOUND",),
          summary="Capacity, units available and price per date (at most 366 days)")
def listing_availability(call: Call) -> AvailabilityOut:
    days = service.listing_availability(call.params["listing_id"], call.query.from_, call.query.to)
    return schemas.AvailabilityOut(days=[shapes.day_out(d) for d in days])


@endpoint(bp, "GET", "/faq", response=schemas.Faq, tag="catalog",
          summary="Answers about payment safety, booking problems, refunds and complaints")
def get_faq(call: Call) -> Faq:
    return schemas.Faq(entries=[schemas.FaqEntry(**entry) for entry in faq.entries()])


# --- vendors ----------------------------------------------------------------------------------


@endpoint(bp, "POST", "/vendor/listings", roles=VENDORS, body=schemas.NewListing,
          response=schemas.ListingOut,
          status=201, tag="vendor", summary="Publish a listing")
def create_listing(call: Call) -> ListingOut:
    vendor_id = service.vendor_of(call.user)
    return shapes.listing_out(service.create_listing(vendor_id, call.body.model_dump()))


@endpoint(bp, "GET", "/vendor/listings", roles=VENDORS, query=schemas.PageQuery,
          response=schemas.ListingPage,
          tag="vendor", summary="The vendor's own listings, oldest first")
def vendor_listings(call: Call) -> ListingPage:
    listings, next_cursor = service.vendor_listings(service.vendor_of(call.user), call.query.limit,
                                                    call.query.cursor)
    return schemas.ListingPage(listings=[shapes.listing_out(x) for x in listings], next_cursor=next_cursor)


@endpoint(bp, "PATCH", "/vendor/listings/{listing_id}", roles=VENDORS, body=schemas.ListingPatch,
          response=schemas.ListingOut, tag="vendor", errors=("NOT_FOUND",),
          summary="Change a listing's title, description, attributes or cancellation policy")
def update_listing(call: Call) -> ListingOut:
    changes = call.body.model_dump(exclude_unset=True)
    listing = service.update_listing(service.vendor_of(call.user), call.params["listing_id"], changes)
    return shapes.listing_out(listing)


@endpoint(bp, "PUT", "/vendor/listings/{listing_id}/availability", roles=VENDORS,
          body=schemas.AvailabilityUpdate, response=schemas.Updated, tag="vendor",
          errors=("NOT_FOUND", "CAPACITY_BELOW_COMMITTED", "REQUEST_IN_PROGRESS", "SERVICE_UNAVAILABLE"),
          summary="Set capacity and price for a date range or a list of days (at most 366)")
def set_availability(call: Call) -> Updated:
    b = call.body
    days = None if b.days is None else [(d.date, d.capacity, d.price) for d in b.days]
    updated = service.set_availability(service.vendor_of(call.user), call.params["listing_id"],
                                       first=b.from_, last=b.to, capacity=b.capacity,
                                       price=b.price, days=days)
    return schemas.Updated(updated=updated)


# --- administrators ---------------------------------------------------------------------------


@endpoint(bp, "POST", "/admin/vendors", roles=ADMINS, body=schemas.NewVendor,
          response=schemas.VendorOut,
          status=201, tag="admin", errors=("INVALID_STATE",),
          summary="Onboard a vendor: its record and its Cognito user in the vendors group")
def create_vendor(call: Call) -> VendorOut:
    vendor, password = service.create_vendor(call.body.name, call.body.email)
    return shapes.vendor_out(vendor, password)


@endpoint(bp, "GET", "/admin/vendors", roles=ADMINS, query=schemas.PageQuery,
          response=schemas.VendorPage,
          tag="admin", summary="Every vendor, oldest first")
def list_vendors(call: Call) -> VendorPage:
    vendors, next_cursor = service.list_vendors(call.query.limit, call.query.cursor)
    return schemas.VendorPage(vendors=[shapes.vendor_out(v) for v in vendors], next_cursor=next_cursor)
