"""Itinera: wiring only.

The Chalice app, its middleware, the blueprints of each context, and the SQS / schedule entry
points. Those entry points must be defined here, not in blueprints, or app-level middleware
never runs for them (DESIGN pitfall 3).
"""
from chalicelib.core.lazy import collecting_later

# Cold start: no cyclic garbage collection while the modules load, then what they made is frozen
# out of later collections (core.lazy.collecting_later says why), until the end of this module.
_loading = collecting_later()
_loading.__enter__()

from chalice import Chalice, ConvertToMiddleware, Rate

from chalicelib.booking.routes import bp as booking_routes
from chalicelib.booking.stripe_routes import bp as stripe_routes
from chalicelib.core.config import queue_name
from chalicelib.core.http import http_middleware
from chalicelib.core.observability import logger, metrics
from chalicelib.core.queues import CANCELLATIONS, CONFIRMATIONS, NOTIFICATIONS, RECOMMENDATIONS, WAITLIST, WEBHOOKS
from chalicelib.identity.routes import bp as identity_routes
from chalicelib.inventory.routes import bp as inventory_routes
from chalicelib.notify.routes import bp as webhook_routes
from chalicelib.ops.routes import bp as ops_routes
from chalicelib.promotions.routes import bp as promotion_routes
from chalicelib.recommendations.routes import bp as recommendation_routes
from chalicelib.reviews.routes import bp as review_routes
from chalicelib.support.routes import bp as support_routes
from chalicelib.waitlist.routes import bp as waitlist_routes

app = Chalice(app_name="itinera")
_first = True


def first_invocation(event, get_response):
    """The first invocation of a cold start loads most of what it uses: inside collecting_later."""
    global _first
    if not _first:
        return get_response(event)
    _first = False
    with collecting_later():
        return get_response(event)


# Outermost first: the first invocation finishes the cold start (core.lazy.collecting_later,
# like the imports above); metrics flush after everything, logs carry the Lambda context, then the
# HTTP layer sets the request id (the log correlation id) and maps errors.
app.register_middleware(first_invocation, "all")
app.register_middleware(ConvertToMiddleware(metrics.log_metrics), "all")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context), "all")
app.register_middleware(http_middleware, "http")

app.register_blueprint(ops_routes)
app.register_blueprint(identity_routes)
app.register_blueprint(stripe_routes)
app.register_blueprint(inventory_routes)
app.register_blueprint(booking_routes)
app.register_blueprint(support_routes)
app.register_blueprint(webhook_routes)
app.register_blueprint(review_routes)
app.register_blueprint(promotion_routes)
app.register_blueprint(waitlist_routes)
app.register_blueprint(recommendation_routes)

_loading.__exit__(None, None, None)


# Workers. Their modules load on first use: API cold starts do not pay for them.
# Each returns `batchItemFailures`; infra enables ReportBatchItemFailures on every SQS source.

@app.on_sqs_message(queue=queue_name(CONFIRMATIONS), batch_size=10)
def confirm_bookings(event):
    from chalicelib.booking.workers import handle_confirmations
    return handle_confirmations(event.to_dict(), event.context)


@app.on_sqs_message(queue=queue_name(CANCELLATIONS), batch_size=10)
def cancel_bookings(event):
    from chalicelib.booking.workers import handle_cancellations
    return handle_cancellations(event.to_dict(), event.context)


@app.on_sqs_message(queue=queue_name(NOTIFICATIONS), batch_size=10)
def send_notifications(event):
    from chalicelib.booking.workers import handle_notifications
    from chalicelib.support.workers import with_case_emails  # case emails share the queue
    return with_case_emails(handle_notifications)(event.to_dict(), event.context)


# One message per booking change (its vendors' streams) or per retry: deliveries are HTTP calls
# to vendors' servers, each up to its timeout, so a small batch keeps a run well inside 30 s.
@app.on_sqs_message(queue=queue_name(WEBHOOKS), batch_size=2)
def deliver_webhooks(event):
    from chalicelib.notify.workers import handle_webhooks
    return handle_webhooks(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def relay_webhooks(event):
    from chalicelib.notify.workers import relay_due_events
    return relay_due_events()


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_bookings(event):
    from chalicelib.booking.workers import sweep
    return sweep()


# Units came free (expiry, failure, cancellation, capacity raised): offer them to the waitlist.
@app.on_sqs_message(queue=queue_name(WAITLIST), batch_size=10)
def match_waitlist(event):
    from chalicelib.waitlist.workers import handle_freed_units
    return handle_freed_units(event.to_dict(), event.context)


# A lost message must not strand a waiting traveler: every minute, entries that could fit are tried.
@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_waitlist(event):
    from chalicelib.waitlist.workers import sweep
    return sweep()


# One message per confirmed booking: its listings join the traveler's history and co-bookings.
@app.on_sqs_message(queue=queue_name(RECOMMENDATIONS), batch_size=10)
def count_cobookings(event):
    from chalicelib.recommendations.workers import handle_confirmed
    return handle_confirmed(event.to_dict(), event.context)


# Weekly picks for opted-in travelers. Daily, not weekly: each traveler gets at most one email a
# week (a per-week marker), and a run that ran out of time is finished by the next day's.
@app.schedule(Rate(1, unit=Rate.DAYS))
def email_recommendations(event):
    from chalicelib.recommendations.workers import send_weekly_picks
    return send_weekly_picks()
