"""The payments port: every adapter implements it exactly, and its pure helpers (the
raw-card-number check and provider-side keys)."""
from __future__ import annotations

import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.booking.payments.fake import FakePaymentProvider
from chalicelib.booking.payments.local import LocalProvider
from chalicelib.booking.payments.port import PAYMENT_STATES, PaymentProvider, looks_like_card_number, scoped_key
from chalicelib.booking.payments.stripe_provider import STATUS_OF_INTENT, StripeProvider

ADAPTERS = [LocalProvider, StripeProvider, FakePaymentProvider]
PORT_METHODS = sorted(name for name, member in vars(PaymentProvider).items()
                      if inspect.isfunction(member) and not name.startswith("_"))


def test_the_port_is_create_confirm_capture_void_refund_retrieve_retrieve_refund_and_accepts():
    assert PORT_METHODS == ["accepts", "capture", "confirm", "create", "refund", "retrieve", "retrieve_refund", "void"]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
@pytest.mark.parametrize("method", PORT_METHODS)
def test_every_adapter_has_each_port_method_with_the_ports_signature(adapter, method):
    # Same names, kinds (keyword-only after *), defaults and annotations: a caller written
    # against the port works with any adapter, keyword by keyword.
    assert inspect.signature(getattr(adapter, method)) == inspect.signature(getattr(PaymentProvider, method))


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
def test_every_adapter_names_itself(adapter):
    assert isinstance(adapter.name, str) and adapter.name


def test_every_stripe_status_maps_to_a_port_state():
    assert set(STATUS_OF_INTENT.values()) == set(PAYMENT_STATES)


def luhn_check_digit(body: str) -> str:
    total = 0
    # The check digit will sit at the right, so the body's last digit is the first doubled.
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


# 13 to 19 digits: a random body of 12 to 18, then its Luhn check digit.
card_numbers = st.integers(min_value=12, max_value=18).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
).map(lambda body: body + luhn_check_digit(body))


@pytest.mark.parametrize("number", [
    "4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", " 5555555555554444 ",
    "378282246310005", "6011111111111117", "4000056655665556", "4000000000000002",
])
def test_stripe_test_card_numbers_are_card_numbers(number):
    assert looks_like_card_number(number)


@pytest.mark.parametrize("value", [
    "tok_visa", "pm_card_visa", "", "4242424242424241",  # Luhn fails
    "424242424242", "42424242424242424242",  # 12 and 20 digits
    "4242_4242_4242_4242", "4242.4242.4242.4242", "４２４２４２４２４２４２４２４２",  # fullwidth digits
    "tok_4242424242424242",
])
def test_other_values_are_not_card_numbers(value):
    assert not looks_like_card_number(value)


@given(card_numbers)
def test_every_luhn_valid_number_of_13_to_19_digits_is_caught(number):
    assert looks_like_card_number(number)


@given(card_numbers, st.data())
def test_spaces_and_dashes_between_digits_do_not_hide_a_number(number, data):
    separators = data.draw(st.lists(st.sampled_from(["", " ", "-"]), min_size=len(number), max_size=len(number)))
    formatted = "".join(digit + sep for digit, sep in zip(number, separators))
    assert looks_like_card_number(formatted)


@given(card_numbers, st.data())
def test_a_single_wrong_digit_fails_the_luhn_check(number, data):
    position = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    altered = number[:position] + wrong + number[position + 1:]
    assert not looks_like_card_number(altered)


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",), blacklist_characters=" -"), min_size=1))
def test_anything_with_another_character_is_not_a_number(noise):
    assert not looks_like_card_number("42424242" + noise + "42424242")


def test_scoped_keys_separate_operations_and_fit_stripes_limit():
    assert scoped_key("capture", "booking-1") == "itinera-capture-booking-1"
    assert scoped_key("capture", "k") != scoped_key("refund", "k")
    long_key = "x" * 255
    scoped = scoped_key("authorize", long_key)
    assert len(scoped) <= 255
    assert scoped == scoped_key("authorize", long_key)
    assert scoped != scoped_key("authorize", "y" * 255)
    with pytest.raises(ValueError):
        scoped_key("void", "")
