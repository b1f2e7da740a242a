"""How many items a hold's TransactWriteItems holds, counted before it is sent (pure)."""
from __future__ import annotations

from chalicelib.booking.holds import HOLD_OWN_ITEMS, TRANSACTION_MAX_ITEMS, hold_transaction_size


def test_a_hold_sends_one_update_per_date_one_check_per_listing_one_link_per_vendor_and_four_own_items():
    size = hold_transaction_size({"lst_a": ["2027-03-01", "2027-03-02"], "lst_b": ["2027-03-01"]},
                                 {"lst_a": "ven_1", "lst_b": "ven_2"})

    assert (size.dates, size.listings, size.vendors) == (3, 2, 2)
    assert size.items == 3 + 2 + 2 + HOLD_OWN_ITEMS == 11


def test_listings_of_one_vendor_share_one_vendor_link():
    size = hold_transaction_size({"lst_a": ["2027-03-01"], "lst_b": ["2027-03-01"]},
                                 {"lst_a": "ven_1", "lst_b": "ven_1"})

    assert size.vendors == 1


def test_eighty_dates_across_ten_vendors_need_more_than_a_transaction_holds():
    dates = [f"2027-03-{d:02d}" for d in range(1, 9)]
    listings = {f"lst_{n}": dates for n in range(10)}

    size = hold_transaction_size(listings, {f"lst_{n}": f"ven_{n}" for n in range(10)})

    assert size.items == 104 > TRANSACTION_MAX_ITEMS
