"""Validation errors name what the client sent: body fields, nested fields, query parameters."""
from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, model_validator

from chalicelib.core.api import load_json_object, parse_query, validate_body
from chalicelib.core.errors import FieldError, ValidationError
from chalicelib.core.schemas import Input, Query


def parse_json_body(raw, model):
    """What a route does with a body no plain reader takes (core.api.endpoint)."""
    return validate_body(load_json_object(raw), model)


class Window(Query):
    from_: int | None = Field(default=None, alias="from")
    to: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if self.from_ is not None and self.to is not None and self.to < self.from_:
            raise FieldError("must not be before `from`", "to")
        return self


class Pair(Query):
    a: int | None = None
    b: int | None = None

    @model_validator(mode="after")
    def _one(self) -> "Pair":
        if (self.a is None) == (self.b is None):
            raise ValueError("give exactly one of a, b")
        return self


class Stay(Input):
    check_in: int
    check_out: int

    @model_validator(mode="after")
    def _ordered(self) -> "Stay":
        if self.check_out <= self.check_in:
            raise FieldError("must be after check_in", "check_out")
        return self


class Trip(Input):
    stays: list[Stay]


class Both(Input):
    low: int
    high: int

    @model_validator(mode="after")
    def _apart(self) -> "Both":
        if self.low == self.high:
            raise FieldError("must differ", "low", "high")
        return self


def fields(call, *args) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        call(*args)
    return raised.value.details["fields"]


def test_a_query_rule_names_the_parameter_it_is_about():
    assert fields(parse_query, {"from": "10", "to": "1"}, Window) == {"to": "must not be before `from`"}


def test_a_query_rule_that_names_no_parameter_is_reported_on_the_query_not_the_body():
    assert fields(parse_query, {}, Pair) == {"query": "give exactly one of a, b"}


def test_a_body_rule_names_its_field_under_the_nested_path():
    raw = '{"stays": [{"check_in": 1, "check_out": 2}, {"check_in": 5, "check_out": 3}]}'
    assert fields(parse_json_body, raw, Trip) == {"stays.1.check_out": "must be after check_in"}


def test_a_body_rule_may_name_several_fields():
    assert fields(parse_json_body, '{"low": 1, "high": 1}', Both) == {"low": "must differ", "high": "must differ"}


def test_a_body_rule_that_names_no_field_is_still_reported_on_the_body():
    class Anything(BaseModel):
        @model_validator(mode="after")
        def _never(self) -> "Anything":
            raise ValueError("never valid")

    assert fields(parse_json_body, "{}", Anything) == {"body": "never valid"}
