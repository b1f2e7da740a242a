"""Pure rules of promotions: scope, discount, its split over items, refusal reasons."""
from __future__ import annotations

import pytest

from chalicelib.booking.holds import PROMOTION_ITEMS, hold_transaction_size
from chalicelib.core.errors import PromoInvalid
from chalicelib.promotions import domain
from chalicelib.promotions.domain import Line, Terms, discount, split

NOW = 1_800_000_000


def terms(**changes) -> Terms:
    base = dict(code="SPRING", vendor_id="ven_a", percent_off=10, amount_off=None, currency=None,
                valid_from=NOW - 100, valid_to=NOW + 100, max_uses=10, max_uses_per_traveler=1)
    base.update(changes)
    return Terms(**base)


HOTEL = Line("lst_h", "ven_a", "hotel", 30_000)
FLIGHT = Line("lst_f", "ven_a", "flight", 20_001)
OTHER = Line("lst_o", "ven_b", "hotel", 50_000)


def reason(exc: pytest.ExceptionInfo) -> str:
    return exc.value.details["reason"]


def test_a_percentage_is_floored_over_the_eligible_items():
    result = discount(terms(percent_off=15), [HOTEL, FLIGHT], "EUR", NOW)

    assert result.amount == (30_000 + 20_001) * 15 // 100 == 7500
    assert sum(result.shares) == result.amount


def test_a_fixed_amount_never_exceeds_the_eligible_amount():
    result = discount(terms(percent_off=None, amount_off=99_999, currency="EUR"), [HOTEL], "EUR", NOW)

    assert result.amount == 30_000 and result.shares == (30_000,)


def test_a_vendor_promotion_leaves_other_vendors_items_alone():
    result = discount(terms(percent_off=50), [HOTEL, OTHER], "EUR", NOW)

    assert result.amount == 15_000 and result.shares == (15_000, 0)


def test_an_admin_promotion_applies_to_every_vendor():
    result = discount(terms(vendor_id=None, percent_off=10), [HOTEL, OTHER], "EUR", NOW)

    assert result.shares == (3000, 5000)


def test_a_kind_scope_takes_only_that_kind():
    result = discount(terms(kind="flight", percent_off=100), [HOTEL, FLIGHT], "EUR", NOW)

    assert result.shares == (0, 20_001)


def test_a_listing_scope_takes_only_that_listing():
    result = discount(terms(listing_id="lst_h", percent_off=100), [HOTEL, FLIGHT], "EUR", NOW)

    assert result.shares == (30_000, 0)


@pytest.mark.parametrize("changes, expected", [
    (dict(valid_from=NOW + 1), domain.NOT_STARTED),
    (dict(valid_to=NOW), domain.EXPIRED),
    (dict(uses=10), domain.EXHAUSTED),
    (dict(kind="event"), domain.NOT_APPLICABLE),
    (dict(vendor_id="ven_z"), domain.NOT_APPLICABLE),
    (dict(percent_off=None, amount_off=500, currency="USD"), domain.CURRENCY),
])
def test_a_code_that_cannot_be_used_is_refused_with_its_reason(changes, expected):
    with pytest.raises(PromoInvalid) as refused:
        discount(terms(**changes), [HOTEL], "EUR", NOW)

    assert reason(refused) == expected
    assert refused.value.details["field"] == "promo_code"
    assert refused.value.status == 422 and refused.value.code == "PROMO_INVALID"


def test_the_window_starts_inclusive_and_ends_exclusive():
    assert discount(terms(valid_from=NOW), [HOTEL], "EUR", NOW).amount == 3000
    with pytest.raises(PromoInvalid) as refused:
        discount(terms(valid_to=NOW), [HOTEL], "EUR", NOW)
    assert reason(refused) == domain.EXPIRED


def test_a_percentage_ignores_the_currency():
    assert discount(terms(percent_off=10, currency="USD"), [HOTEL], "EUR", NOW).amount == 3000


@pytest.mark.parametrize("total, amounts", [
    (2, [1, 1, 1]), (7500, [30_000, 20_001]), (1, [3, 3, 3]), (99, [1, 50, 49]), (0, [10, 20]),
    (100, [100]), (12_345, [7, 0, 99_999, 13]),
])
def test_the_split_sums_exactly_and_no_share_exceeds_its_item(total, amounts):
    shares = split(total, amounts)

    assert sum(shares) == total
    assert all(0 <= share <= amount for share, amount in zip(shares, amounts))
    # Each share is within one minor unit of its exact pro rata share.
    assert all(abs(share - total * amount / sum(amounts)) < 1 for share, amount in zip(shares, amounts))


def test_a_split_remainder_goes_to_the_largest_item_first():
    assert split(1, [10, 30, 20]) == [0, 1, 0]


def test_codes_are_case_insensitive_and_stored_upper():
    assert domain.normalize_code(" spring-25_x ") == "SPRING-25_X"


@pytest.mark.parametrize("raw", ["ab", "x" * 41, "WITH SPACE", "ÉTÉ", "a.b.c"])
def test_what_cannot_be_a_code_normalizes_to_none(raw):
    assert domain.normalize_code(raw) is None


def test_a_promotion_code_adds_its_two_counters_to_the_hold_transaction():
    plain = hold_transaction_size({"lst_a": ["2027-03-01"]}, {"lst_a": "ven_1"})
    coded = hold_transaction_size({"lst_a": ["2027-03-01"]}, {"lst_a": "ven_1"}, promotion=True)

    assert coded.items == plain.items + PROMOTION_ITEMS == plain.items + 2


# -- what is left to pay stays chargeable --------------------------------------------------------

def test_a_code_whose_discount_floors_to_nothing_is_refused_as_not_applicable():
    with pytest.raises(PromoInvalid) as refused:
        discount(terms(percent_off=1), [Line("lst_e", "ven_a", "event", 50)], "EUR", NOW)

    assert reason(refused) == domain.NOT_APPLICABLE and refused.value.details["discount"] == 0


def test_a_discount_that_would_leave_less_than_the_minimum_charge_leaves_exactly_the_minimum():
    result = discount(terms(percent_off=None, amount_off=999, currency="EUR"), [Line("lst_e", "ven_a", "event", 1000)],
                      "EUR", NOW)

    assert domain.MIN_CHARGE == 50
    assert result.amount == 1000 - domain.MIN_CHARGE and result.shares == (950,)


def test_the_minimum_is_what_is_left_of_the_whole_booking_and_its_reduction_is_shared_exactly():
    cheap = [Line(f"lst_{n}", "ven_a", "event", 30) for n in range(3)]
    result = discount(terms(percent_off=95), [*cheap, Line("lst_o", "ven_b", "event", 20)], "EUR", NOW)

    # 95% of 90 is 85, leaving 5 + 20 = 25: reduced to 60, leaving exactly 50.
    assert result.amount == 60 and sum(result.shares) == 60 and result.shares[3] == 0
    assert all(0 <= share <= 30 for share in result.shares[:3])


def test_a_discount_of_everything_makes_a_free_booking_even_below_the_minimum():
    result = discount(terms(percent_off=100), [Line("lst_e", "ven_a", "event", 30)], "EUR", NOW)

    assert result.amount == 30


def test_a_partial_discount_of_a_booking_cheaper_than_the_minimum_is_refused():
    with pytest.raises(PromoInvalid) as refused:
        discount(terms(percent_off=50), [Line("lst_e", "ven_a", "event", 40)], "EUR", NOW)

    assert reason(refused) == domain.NOT_APPLICABLE


@pytest.mark.parametrize("total", [0, 1, 49, 50, 51, 99, 100, 1000])
def test_the_chargeable_discount_is_never_larger_and_leaves_zero_or_at_least_the_minimum(total):
    for off in range(total + 1):
        kept = domain.chargeable(off, total)

        assert 0 <= kept <= off
        assert total - kept == 0 or total - kept >= domain.MIN_CHARGE or kept == 0
        if total - off == 0 or total - off >= domain.MIN_CHARGE:
            assert kept == off
        elif total >= domain.MIN_CHARGE:
            assert total - kept == domain.MIN_CHARGE
