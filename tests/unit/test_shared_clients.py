"""One DynamoDB client for every PynamoDB connection configured alike (core.aws).

Each client PynamoDB builds costs a cold start 10-20 ms; these tests fail if the models, the
transactions or the reservations' raw reads go back to building their own.
"""
from __future__ import annotations

import pytest
from pynamodb.connection import Connection

from chalicelib.booking.models import Booking, LedgerEntry
from chalicelib.booking.payments.local import LocalPayment, _transactions
from chalicelib.core import aws, tables
from chalicelib.core.models import IdempotencyRecord
from chalicelib.inventory.models import AvailabilityDay, Listing
from infra.resources import models


@pytest.fixture(autouse=True)
def fresh_process():
    """As a new Lambda process: no client yet, in core.aws or any model."""
    aws.reset_clients()
    for model in models():
        model._connection = None


def test_models_of_every_context_share_one_client():
    clients = {id(model._get_connection().connection.client)
               for model in (Booking, LedgerEntry, IdempotencyRecord, AvailabilityDay, Listing, LocalPayment)}
    assert len(clients) == 1


def test_transactions_use_the_models_client():
    assert tables.transaction()._connection.client is Booking._get_connection().connection.client
    assert _transactions().client is Booking._get_connection().connection.client


def test_the_shared_client_comes_from_the_process_session():
    client = Booking._get_connection().connection.client
    assert client._request_signer is not None
    assert Booking._get_connection().connection.session is aws._botocore_session()


def test_a_connection_configured_otherwise_gets_its_own_client():
    shared = Booking._get_connection().connection.client
    other = Connection(read_timeout_seconds=1)
    assert other.client is not shared
    assert other.client is other.client  # and keeps it
    assert Connection(read_timeout_seconds=1).client is other.client  # shared with its likes
