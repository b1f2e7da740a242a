"""Storage of the payments package: the local provider's ledger and Stripe's delivered events.

`local_payments` holds three kinds of item under one string hash key `pk`:

- `payment#<payment_id>` (`LocalPayment`): the state of one payment, from `create` on. Every
  transition is an update conditioned on the current state (confirm only from created, capture
  only from authorized, void only before capture, refunds only while `refundable >= amount`),
  so money moves at most as far as the rules allow.
- `request#<operation>#<idempotency key>` (`LocalPaymentRequest`): the fingerprint and result of
  one provider call. It is put with `attribute_not_exists(pk)` in the same transaction as the
  transition it guards, so a repeated key finds the first result instead of moving money again.
- `refund#<refund_id>` (`LocalRefund`): one refund, put with `attribute_not_exists(pk)` in the
  refund's transaction, so `retrieve_refund` reads what was done rather than assuming it.

All three classes describe the same table; only `LocalPayment` is listed in infra/resources.py
(the table is created once, from its key schema).
"""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, MapAttribute, NumberAttribute, TTLAttribute,
                                 UnicodeAttribute)
from pynamodb.models import Model

from ...core.aws import share_aws_clients
from ...core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)


class _LocalPaymentsTable(Model):
    class Meta:
        table_name = table_name("local_payments")
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)


class LocalPayment(_LocalPaymentsTable):
    """One payment and what became of it. Never holds card data: only ids and amounts."""

    payment_id = UnicodeAttribute()
    status = UnicodeAttribute()  # created | authorized | captured | voided (port.PAYMENT_STATES)
    currency = UnicodeAttribute()
    amount = NumberAttribute()  # what it is for; authorized once confirmed
    captured_amount = NumberAttribute(default=0)
    refunded_amount = NumberAttribute(default=0)
    # captured - refunded, kept as its own attribute because a condition expression cannot add:
    # a refund is allowed iff `refundable >= :amount`.
    refundable = NumberAttribute(default=0)
    capture_id = UnicodeAttribute(null=True)
    # tok_captureFails: authorized now, refused at capture (API.md's test token).
    capture_fails = BooleanAttribute(default=False)
    # The decline code of the last refused confirm while still created (Stripe's last_payment_error).
    last_decline = UnicodeAttribute(null=True)
    metadata = MapAttribute(default=dict)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    @staticmethod
    def key(payment_id: str) -> str:
        return f"payment#{payment_id}"


class LocalPaymentRequest(_LocalPaymentsTable):
    """The first answer to one (operation, idempotency key)."""

    operation = UnicodeAttribute()  # create | confirm | capture | void | refund
    fingerprint = UnicodeAttribute()  # the arguments, to refuse the key with others
    outcome = UnicodeAttribute()  # ok | declined
    payment_id = UnicodeAttribute(null=True)  # created, confirmed, captured, voided or refunded
    amount = NumberAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    result_id = UnicodeAttribute(null=True)  # capture_id or refund_id
    decline_reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()

    @staticmethod
    def key(operation: str, idempotency_key: str) -> str:
        if not idempotency_key:
            raise ValueError("an idempotency key is required")
        return f"request#{operation}#{idempotency_key}"


class LocalRefund(_LocalPaymentsTable):
    """One refund the local provider made. Local refunds settle at once: status is always
    "succeeded" (port.REFUND_SUCCEEDED), stored so a reader learns it from the ledger."""

    refund_id = UnicodeAttribute()
    payment_id = UnicodeAttribute()
    amount = NumberAttribute()
    status = UnicodeAttribute()  # port.REFUND_STATES
    created_at = NumberAttribute()

    @staticmethod
    def key(refund_id: str) -> str:
        return f"refund#{refund_id}"


class StripeEvent(Model):
    """A Stripe webhook event we accepted; the conditional put on `event_id` drops redeliveries."""

    class Meta:
        table_name = table_name("stripe_events")
        billing_mode = "PAY_PER_REQUEST"

    event_id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    livemode = BooleanAttribute(default=False)
    object_id = UnicodeAttribute(null=True)  # e.g. the PaymentIntent the event is about
    created = NumberAttribute()  # Stripe's timestamp of the event
    received_at = NumberAttribute()
    # Stripe retries a delivery for up to three days; a month of ids covers every redelivery.
    expires_at = TTLAttribute()  # cleanup only: TTL may lag for days
