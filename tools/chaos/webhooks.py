"""Vendor webhooks in the fault-injection run: each vendor's receiver on loopback, misbehaving on
purpose, and what the end of the run reads from them.

A receiver (tests/webhook_receiver.Receiver, extended) verifies every request with the Standard
Webhooks library and the secrets its vendor holds (two or more after a rotation, as a vendor's
server does during the overlap), records it with the order it arrived in, and, while the
run's faults are on, answers as a seeded misbehaviour says: 500 or 503 now and then and in
runs ("for a while"), too slowly (past the service's timeout), slowly but in time. One vendor's
server goes down (connection refused) for part of the operations and comes back, and the vendor
then asks for a replay of what it missed.

The service's side is observed, not changed: `install_delivery_observer` wraps the webhook
worker's one HTTP call (notify.destinations.post) to count attempts by outcome, and to inject a
worker death right after a delivery (the vendor has the event; the worker never recorded it).
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from standardwebhooks import Webhook, WebhookVerificationError

from tests.webhook_receiver import Received, Receiver

from .faults import FaultPlan, SimulatedCrash

# The service's retry schedule for the run, in service-clock seconds: the first retry after
# 0.25-0.5 s, never more than 2 s apart, given up 25 s after the first try. The run's clock
# jumps (15 min past every hold) are longer than the window: an event still failing when the
# clock jumps is given up at its next look, so outages across a jump dead-letter.
TIMEOUT_SECONDS = 1.0
SCHEDULE = {
    "ITINERA_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "ITINERA_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "2",
    "ITINERA_WEBHOOK_RETRY_WINDOW_SECONDS": "25",
    "ITINERA_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
}

OK, HTTP_500, HTTP_503, TIMEOUT, SLOW = "ok", "http_500", "http_503", "timeout", "slow"


@dataclass(frozen=True)
class Misbehaviour:
    """Per request, while the run's faults are on: the chance of each bad answer. `burst`: the
    chance that a request starts a run of 3-10 failures in a row (the vendor's app is down for
    a while, its load balancer answering 500 or 503)."""
    http_500: float = 0.0
    http_503: float = 0.0
    timeout: float = 0.0
    slow: float = 0.0
    burst: float = 0.0


def misbehaviours(rng: random.Random, vendors: int) -> list[Misbehaviour]:
    """One flaky receiver (errors, bursts, timeouts), the others mildly so; seeded."""
    flaky = rng.randrange(vendors)
    return [Misbehaviour(http_500=rng.uniform(0.05, 0.1), http_503=rng.uniform(0.03, 0.08),
                         timeout=rng.uniform(0.04, 0.08), slow=rng.uniform(0.1, 0.2), burst=rng.uniform(0.02, 0.04))
            if i == flaky else
            Misbehaviour(http_500=rng.uniform(0.01, 0.03), http_503=rng.uniform(0.01, 0.03),
                         timeout=rng.uniform(0.01, 0.02), slow=rng.uniform(0.05, 0.15), burst=0.005)
            for i in range(vendors)]


@dataclass
class ChaosReceived(Received):
    arrival: int = 0  # the receiver's own count of requests, taken as the request arrived
    behaviour: str = OK  # what the receiver did: ok, http_500, http_503, timeout (past it), slow


@dataclass
class ChaosReceiver(Receiver):
    """A Receiver whose answers follow a seeded Misbehaviour while `active`, that records the
    order requests arrived in (not the order they were answered: a slow answer is recorded late),
    and that can go down and come back on the same port."""
    vendor_id: str = ""
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    seed: int = 0
    active: bool = False
    injected: Counter = field(default_factory=Counter)
    arrivals: int = 0
    in_flight: int = 0  # requests arrived and not yet recorded (a slow answer is being slept)
    down_periods: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._burst: list[str] = []

    @property
    def up(self) -> bool:
        return self._server is not None

    def learn(self, secret: str) -> None:
        """The vendor stores a secret it was given (PUT, or a rotation): it verifies with every
        secret it ever got, as a vendor does during a rotation's overlap."""
        with self._lock:
            if secret not in self.secrets:
                self.secrets.append(secret)

    def go_down(self) -> None:
        with self._lock:
            self.down_periods += 1
        self.stop()

    def come_back(self) -> None:
        if self._server is None:
            self.start(self.port)

    def receipts(self) -> list[ChaosReceived]:
        with self._lock:
            return list(self.received)

    def arrivals_so_far(self) -> int:
        with self._lock:
            return self.arrivals

    def recent_created(self, count: int) -> list[str]:
        """The latest `created` stamps among the events it accepted: where a vendor replays
        from (a few events back, not its whole history)."""
        with self._lock:
            accepted = {json.loads(r.body)["created"] for r in self.received if 200 <= r.answered < 300}
        return sorted(accepted)[-count:]

    def wait_idle(self, seconds: float) -> bool:
        """Waits until every request that arrived is recorded (a slow one is still sleeping)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if not self.in_flight:
                    return True
            time.sleep(0.05)
        return False

    def _decide(self) -> tuple[int, str, float]:
        """Under the lock: this request's arrival number, behaviour and delay."""
        arrival = self.arrivals
        self.arrivals += 1
        self.in_flight += 1
        m, rng = self.misbehaviour, self._rng
        behaviour = OK
        if self.active:
            if self._burst:
                behaviour = self._burst.pop()
            elif rng.random() < m.burst:
                status = rng.choice([HTTP_500, HTTP_503])
                self._burst = [status] * (rng.randint(3, 10) - 1)
                behaviour = status
            else:
                roll = rng.random()
                for name, rate in ((HTTP_500, m.http_500), (HTTP_503, m.http_503), (TIMEOUT, m.timeout),
                                   (SLOW, m.slow)):
                    if roll < rate:
                        behaviour = name
                        break
                    roll -= rate
        if behaviour != OK:
            self.injected[behaviour] += 1
        delay = {TIMEOUT: TIMEOUT_SECONDS + 0.6, SLOW: rng.uniform(0.2, 0.5) * TIMEOUT_SECONDS}.get(behaviour, 0.0)
        return arrival, behaviour, delay

    def start(self, port: int = 0) -> "ChaosReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                with receiver._lock:
                    arrival, behaviour, delay = receiver._decide()
                    secrets = list(receiver.secrets)
                try:
                    status = self._receive(arrival, behaviour, delay, secrets)
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the service stopped waiting (a timeout): nobody reads the answer

            def _receive(self, arrival: int, behaviour: str, delay: float, secrets: list[str]) -> int:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for secret in secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(secret)
                    except WebhookVerificationError:
                        pass
                if delay:
                    time.sleep(delay)
                status = {HTTP_500: 500, HTTP_503: 503}.get(behaviour, 200)
                with receiver._lock:
                    if not verified:
                        receiver.bad_signatures += 1
                        status = 400  # a vendor refuses what it cannot verify
                    receiver.received.append(ChaosReceived(headers, body, verified, status, arrival, behaviour))
                return status

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name=f"receiver-{self.vendor_id}", daemon=True).start()
        return self


def receipt_rows(receivers: dict[str, ChaosReceiver]) -> list[dict[str, Any]]:
    """What the receivers got, as plain rows for the invariants (tools.chaos.invariants)."""
    rows = []
    for vendor_id, receiver in receivers.items():
        for got in receiver.receipts():
            try:
                body_id = json.loads(got.body).get("id")
            except ValueError:
                body_id = None
            rows.append({"vendor_id": vendor_id, "event_id": got.headers.get("webhook-id"), "body_id": body_id,
                         "body": got.body, "verified": bool(got.verified_with), "status": got.answered,
                         "arrival": got.arrival, "timed_out": got.behaviour == TIMEOUT})
    return rows


# --- the service's side -------------------------------------------------------------------------

@dataclass
class DeliveryAttempts:
    """Every POST the webhook worker made, by outcome (2xx, the status, or the error)."""
    outcomes: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1


def install_delivery_observer(plan: FaultPlan) -> tuple[DeliveryAttempts, Callable[[], None]]:
    """Wraps notify.destinations.post (the worker looks it up at each call); returns the counts
    and the function that undoes it. While the plan is active, a worker may die right after a
    delivery (`webhook_crash_after_post`): the vendor got the event, nothing recorded it."""
    from chalicelib.notify import destinations

    original = destinations.post
    attempts = DeliveryAttempts()

    def post(url: str, body: bytes, headers: dict[str, str], **kwargs: Any) -> Any:
        answer = original(url, body, headers, **kwargs)
        if answer.status is not None and 200 <= answer.status < 300:
            attempts.count("2xx")
        elif answer.status is not None:
            attempts.count(f"HTTP {answer.status}")
        else:
            attempts.count(str(answer.error).split(":")[0])
        if plan.roll("webhook_crash_after_post"):
            # In the service's log, so that an event given up for "no result recorded for the
            # last attempt" can be told from one given up without a crash.
            logging.getLogger("tools.chaos").warning("chaos: the webhook worker dies after delivering %s (%s)",
                                                     headers.get("webhook-id"), answer.status or answer.error)
            raise SimulatedCrash("died after delivering a webhook, before recording it")
        return answer

    destinations.post = post  # type: ignore[assignment]

    def undo() -> None:
        destinations.post = original  # type: ignore[assignment]
    return attempts, undo
