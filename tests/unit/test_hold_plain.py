"""POST /holds' plain path (booking.hold_plain) reads a body exactly as schemas.HoldRequest
does, or steps aside. No AWS.

The plain path exists for cold starts (it never imports pydantic); the model stays the contract.
So: every body the plain reader takes, HoldRequest takes to the same values and the same
`model_dump(mode="json")` (the Idempotency-Key fingerprint); and what it does not take (spaces
to strip, other spellings of a date, values out of range, unknown fields, wrong types) it hands
to the model (None), which then answers or refuses as before."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from chalicelib.booking import hold_plain, schemas
from chalicelib.core.errors import ValidationError

DAY = (date.today() + timedelta(days=20)).isoformat()
LATER = (date.today() + timedelta(days=22)).isoformat()
STAY = {"listing_id": "lst_abc", "quantity": 2, "check_in": DAY, "check_out": LATER}
CONTACT = {"email": "tessa@example.com", "name": "Tessa Traveler"}


def model_dump(body):
    """HoldRequest's dump of a body, or None when it refuses it."""
    try:
        return schemas.HoldRequest.model_validate(body).model_dump(mode="json")
    except (PydanticValidationError, ValidationError):
        return None


def plain_dump(body):
    parsed = hold_plain.parse_hold(body)
    return None if parsed is None else parsed.model_dump(mode="json")


def test_fields_are_the_models():
    assert set(schemas.HoldRequest.model_fields) == hold_plain._HOLD_FIELDS
    assert set(schemas.HoldItemIn.model_fields) == hold_plain._ITEM_FIELDS
    assert set(schemas.ContactIn.model_fields) == hold_plain._CONTACT_FIELDS


@pytest.mark.parametrize("body", [
    {"items": [STAY], "contact": CONTACT},
    {"items": [{"listing_id": "lst_f-1_X", "quantity": 1, "date": DAY}],
     "contact": {**CONTACT, "phone": "+33 (1) 23-45-67-89"}, "promo_code": "summer 10"},
    {"items": [STAY, {"listing_id": "lst_b", "quantity": 1000, "date": DAY, "check_in": None}] * 5,
     "contact": {"email": "Tessa.T+trips@Example.COM", "name": "Tëssa Ünïcode-Name", "phone": None},
     "promo_code": None},
    {"items": [{"listing_id": "l" * 80, "quantity": 1, "date": "2020-02-29"}],  # past: the service says so
     "contact": {"email": "a@b.co", "name": "x" * 120}, "promo_code": "P" * 40},
])
def test_usual_bodies_are_read_as_the_model_reads_them(body):
    plain = hold_plain.parse_hold(body)
    assert plain is not None
    assert plain.model_dump(mode="json") == model_dump(body)
    model = schemas.HoldRequest.model_validate(body)
    for mine, theirs in zip(plain.items, model.items, strict=True):
        assert [getattr(mine, f) for f in hold_plain._ITEM_FIELDS] == [getattr(theirs, f) for f in hold_plain._ITEM_FIELDS]
    assert (plain.contact.email, plain.contact.name, plain.contact.phone) == \
        (model.contact.email, model.contact.name, model.contact.phone)
    assert plain.promo_code == model.promo_code


@pytest.mark.parametrize("body", [
    {"items": [STAY], "contact": {**CONTACT, "email": " tessa@example.com"}},  # the model strips
    {"items": [STAY], "contact": {**CONTACT, "name": "Tessa "}},
    {"items": [{**STAY, "listing_id": " lst_abc"}], "contact": CONTACT},
    {"items": [{**STAY, "check_in": "2027-1-10"}], "contact": CONTACT},
    {"items": [{**STAY, "check_in": 1800000000}], "contact": CONTACT},  # the model's own date rules
    {"items": [{**STAY, "check_in": DAY + "T00:00:00"}], "contact": CONTACT},
    {"items": [{**STAY, "quantity": True}], "contact": CONTACT},
    {"items": [{**STAY, "quantity": 2.0}], "contact": CONTACT},
    {"items": [{**STAY, "quantity": "2"}], "contact": CONTACT},
    {"items": [{**STAY, "quantity": 0}], "contact": CONTACT},
    {"items": [{**STAY, "date": DAY}], "contact": CONTACT},  # both shapes
    {"items": [{"listing_id": "lst_abc", "quantity": 1, "check_in": DAY}], "contact": CONTACT},
    {"items": [{**STAY, "extra": 1}], "contact": CONTACT},
    {"items": [STAY], "contact": CONTACT, "extra": 1},
    {"items": [STAY] * 11, "contact": CONTACT},
    {"items": [], "contact": CONTACT},
    {"items": [STAY], "contact": {**CONTACT, "email": "no-at-sign"}},
    {"items": [STAY], "contact": {**CONTACT, "email": "a\ud800@example.com"}},  # a lone surrogate
    {"items": [STAY], "contact": {**CONTACT, "name": "Tab\there"}},
    {"items": [STAY], "contact": {**CONTACT, "name": "No\u00a0break"}},
    {"items": [STAY], "contact": {**CONTACT, "phone": "12345"}},
    {"items": [STAY], "contact": {**CONTACT, "email": "\u0130" * 125 + "@b.co"}},  # 255 in lower case
    {"items": [STAY], "contact": CONTACT, "promo_code": ""},
    {"items": [STAY], "contact": CONTACT, "promo_code": 10},
    {"items": STAY, "contact": CONTACT},
    {"items": [STAY]},
])
def test_anything_else_goes_to_the_model(body):
    assert hold_plain.parse_hold(body) is None


def test_an_address_too_long_once_in_lower_case_is_refused_by_the_model_too():
    body = {"items": [STAY], "contact": {**CONTACT, "email": "\u0130" * 125 + "@b.co"}}
    assert model_dump(body) is None
    assert model_dump({**body, "contact": {**CONTACT, "email": "\u0130" * 124 + "@b.co"}}) is not None


@pytest.mark.parametrize("listing_id", ["a", "A-z_09", "x" * 80, "x" * 81, "", "a b", "a.b", "é", "\uff21"])
def test_listing_ids_are_judged_as_the_model_judges_them(listing_id):
    body = {"items": [{**STAY, "listing_id": listing_id}], "contact": CONTACT}
    assert (hold_plain.parse_hold(body) is not None) == (model_dump(body) is not None)


def test_only_the_json_dump_is_offered():
    with pytest.raises(ValueError):
        hold_plain.parse_hold({"items": [STAY], "contact": CONTACT}).model_dump(mode="python")


# Generated bodies: mostly plain, with every field now and then swapped for something odd.
_odd_text = st.one_of(st.text(max_size=6), st.sampled_from([" ", "\t", "\u00a0", "\x85", "\u2028", "\u180e",
                                                            "\u200b", "\x1f", "\ud800", "\ufeff"]))


def _sometimes(plain, odd):
    """Odd one time in 25: a body has dozens of fields, and most bodies should still be plain."""
    return st.integers(0, 24).flatmap(lambda n: odd if n == 0 else plain)


def _with_extra(objects):
    """Now and then an unknown field, which the model refuses."""
    return st.tuples(objects, st.integers(0, 24)).map(lambda t: {**t[0], "extra": 1} if t[1] == 0 else t[0])


def _text_around(core):
    return st.builds(lambda a, c, b: a + c + b, st.sampled_from(["", "", "", " ", "\u3000", "\x1c"]), core,
                     st.sampled_from(["", "", "", " ", "\u00a0", "\u2029"]))


_days = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
_odd_days = st.one_of(_days.map(lambda d: " " + d), _days.map(lambda d: d + "T00:00:00"),
                      st.integers(-10, 2_000_000_000), st.sampled_from(["2027-02-30", "0000-01-01", "2027-13-01",
                                                                        "20270101", "２０２７-01-01", None]))
_listing_ids = _sometimes(st.text("abcXYZ019_-", min_size=1, max_size=81), _odd_text)
_quantities = _sometimes(st.integers(0, 1001), st.one_of(st.booleans(), st.floats(0, 3), st.just("1")))
_one_day = st.fixed_dictionaries({"listing_id": _listing_ids, "quantity": _quantities,
                                  "date": _sometimes(_days, _odd_days)})
_stays = st.fixed_dictionaries({"listing_id": _listing_ids, "quantity": _quantities,
                                "check_in": _sometimes(_days, _odd_days), "check_out": _sometimes(_days, _odd_days)})
_odd_items = st.fixed_dictionaries({"listing_id": _listing_ids, "quantity": _quantities}, optional={
    "date": _sometimes(_days, _odd_days), "check_in": _sometimes(_days, _odd_days),
    "check_out": _sometimes(_days, _odd_days)})
_items = _with_extra(_sometimes(st.one_of(_one_day, _stays), _odd_items))
_names = _sometimes(st.text(st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S")), min_size=1,
                            max_size=121),
                    st.one_of(_text_around(st.just("Tessa")), st.text(st.characters(codec="utf-8"), max_size=122)))
_emails = st.builds(lambda local, domain: f"{local}@{domain}.com",
                    st.text("aBc.+-_9Éİ", min_size=1, max_size=130), st.text("exAMPle-9", min_size=1, max_size=120))
_contacts = _with_extra(st.fixed_dictionaries({
    "email": _sometimes(_emails, st.one_of(_text_around(_emails), _odd_text, st.just("a" * 250 + "@b.co"))),
    "name": _names,
}, optional={"phone": _sometimes(st.from_regex(r"\+?[0-9 ()-]{6,21}", fullmatch=True),
                                 st.one_of(_odd_text, st.none(), _text_around(st.just("+3312345678"))))}))
_bodies = _with_extra(st.fixed_dictionaries({
    "items": _sometimes(st.lists(_items, min_size=1, max_size=11), st.one_of(st.just([]), _items)),
    "contact": _sometimes(_contacts, _odd_text),
}, optional={"promo_code": _sometimes(st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")),
                                              min_size=0, max_size=41),
                                      st.one_of(st.integers(), st.none(), _text_around(st.just("CODE"))))}))


@settings(max_examples=250, deadline=None)
@given(_bodies)
def test_generated_bodies_read_the_same_or_go_to_the_model(body):
    plain = plain_dump(body)
    if plain is not None:
        assert plain == model_dump(body)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({"listing_id": st.text("abc_-9", min_size=1, max_size=80),
                                       "quantity": st.integers(1, 1000), "date": _days}), min_size=1, max_size=10),
       _emails, st.text(st.characters(codec="utf-8", categories=("L", "N", "P")), min_size=1, max_size=120))
def test_generated_usual_bodies_are_taken(items, email, name):
    body = {"items": items, "contact": {"email": email, "name": name}}
    assert plain_dump(body) == model_dump(body) is not None
