"""Request shapes of the inventory routes: what may be null, what attributes DynamoDB stores,
bounded query integers. No AWS."""
from __future__ import annotations

import math

import pytest
from pydantic import ValidationError as PydanticValidationError

from chalicelib.core.errors import ValidationError
from chalicelib.inventory import domain
from chalicelib.inventory.schemas import (MAX_PRICE_TOTAL, ListingPatch, NewListing, SearchQuery,
                                          _attributes)
from chalicelib.inventory.vendors import _refused_field

HOTEL = {"kind": "hotel", "title": "Room", "currency": "EUR", "city": "PAR",
         "cancellation_policy": {"free_until_hours": 1, "refund_percent_after": 0}}


def bad_fields(model, data) -> dict[str, str]:
    with pytest.raises((ValidationError, PydanticValidationError)) as caught:
        model.model_validate(data)
    assert isinstance(caught.value, ValidationError), caught.value
    return caught.value.details["fields"]


@pytest.mark.parametrize("field", ["title", "cancellation_policy"])
def test_patch_refuses_null_for_what_a_listing_needs(field):
    fields = bad_fields(ListingPatch, {field: None, "description": "ok"})
    assert set(fields) == {field} and "removed" in fields[field]


def test_patch_null_clears_description_and_attributes():
    patch = ListingPatch.model_validate({"description": None, "attributes": None})
    assert patch.model_dump(exclude_unset=True) == {"description": "", "attributes": {}}
    assert ListingPatch.model_validate({"title": "New"}).model_dump(exclude_unset=True) == {"title": "New"}


def test_patch_reports_nulls_with_other_errors_at_once():
    fields = bad_fields(ListingPatch, {"title": None, "city": "LIS", "attributes": {"a": math.nan}})
    assert set(fields) == {"title", "city", "attributes"}


@pytest.mark.parametrize("value", [
    {"a": math.inf}, {"a": -math.inf}, {"a": math.nan}, {"a": [1, {"b": math.nan}]},
    {"a": 1e300}, {"a": 1e-200}, {"a": 10 ** 38 + 1}, {"a": -(10 ** 38 + 1)}, {"a": 10 ** 126},
    {"a": {"b": {"c": {"d": {"e": {}}}}}}, {"a": [[[[[1]]]]]},
    {"": 1}, {"a": {"": 1}}, {"k" * 65: 1}, {"a": "x" * 4100}, {f"k{i}": 1 for i in range(51)},
    {"a": object()},
])
def test_unstorable_attributes_are_refused(value):
    with pytest.raises(ValueError):
        _attributes(value)
    assert "attributes" in bad_fields(NewListing, {**HOTEL, "attributes": value})
    assert "attributes" in bad_fields(ListingPatch, {"attributes": value})


@pytest.mark.parametrize("value", [
    {}, {"a": 0, "b": 0.0, "c": -1.5, "d": True, "e": None, "f": "text", "g": [1, "x", False]},
    {"a": 10 ** 38 - 1}, {"a": -(10 ** 38 - 1)}, {"a": 10 ** 125}, {"a": 1e125}, {"a": 1e-130},
    {"a": {"b": {"c": {"d": {"e": 1}}}}}, {"k" * 64: "é" * 100},
])
def test_storable_attributes_pass_unchanged(value):
    assert _attributes(value) == value


def test_search_integers_are_bounded():
    base = {"kind": "flight", "origin": "CDG", "destination": "LIS"}
    assert MAX_PRICE_TOTAL >= domain.MAX_PRICE * 1000 * domain.MAX_STAY_NIGHTS
    assert SearchQuery.model_validate({**base, "max_price": str(MAX_PRICE_TOTAL)}).max_price == MAX_PRICE_TOTAL
    for bad in (str(MAX_PRICE_TOTAL + 1), "9" * 40, "-1"):
        with pytest.raises(PydanticValidationError):
            SearchQuery.model_validate({**base, "max_price": bad})
    with pytest.raises(PydanticValidationError):
        SearchQuery.model_validate({**base, "quantity": "1001"})


class _CognitoError(Exception):
    def __init__(self, message: str) -> None:
        self.response = {"Error": {"Code": "InvalidParameterException", "Message": message}}


@pytest.mark.parametrize("message, field", [
    ("Invalid email address format.", "email"),
    ("Username should be an email.", "email"),
    ("Invalid value for attribute name", "name"),
    ("1 validation error detected", "email"),
])
def test_cognito_refusals_name_our_field(message, field):
    assert _refused_field(_CognitoError(message)) == field
