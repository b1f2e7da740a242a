"""The fault-injection run: the local stack under simulated users and injected faults, then
the invariants (DESIGN.md "Testing").

One process holds the API (Chalice's local server, on a port), the workers and the sweeper (the
local event runner, two of them, so workers run concurrently), the service clock and the fault
switches; the embedded AWS runs beside it in server mode, so every DynamoDB, SQS and SES call
crosses a real connection. Keeping the service in this process is what lets the run move the
service's clock and inject faults inside it; the users only ever speak HTTP.

Seeded: the same seed makes the same choices (users, operations, faults), although thread
timing makes no two runs interleave alike. The report names the seed to run it again.

Vendor webhooks: each vendor's webhook points to a receiver of its own on loopback
(chaos.webhooks), which misbehaves on purpose while the faults are on; one of them is down for
part of the operations. At the end the run waits for delivery to quiesce (no event left
PENDING) before the audit, which checks the events against the bookings, the receivers and the
webhook DLQ.

Promotions and the waitlist: each vendor creates a few codes with small limits at setup, so they
run out during the run; some holds carry a code (theirs, another vendor's, a spent or unknown
one). Half the listings are small (capacity 1-2), so dates sell out and travelers join their
waitlists; units freed by expiries, cancellations, failures and capacity raises become automatic
holds. Settling runs the waitlist's sweep too, until no offer and no expiry is left to make.
"""
from __future__ import annotations

import io
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .webhooks import SCHEDULE as WEBHOOK_SCHEDULE

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".itinera" / "chaos"
# Failed messages come back after the visibility timeout; 30 s (the deployed value) would make
# a run mostly waiting. The redrive policy (5 receives, then the DLQ) is the deployed one.
VISIBILITY_TIMEOUT_SECONDS = 2
PASSWORD = "Chaos-pass-1"
# Schedules run this much faster than deployed: the every-minute sweepers every 3 s.
RATE_SCALE = 0.05


@dataclass
class Options:
    seed: int
    operations: int
    travelers: int = 16
    actors: int = 6
    listings: int = 8
    dates: int = 4
    keep_logs: bool = False  # keep the service's log even when the run passed

    @property
    def clock_jumps(self) -> int:
        """Times the service clock jumps past every live hold: about one per 500 operations."""
        return max(2, self.operations // 500)


@dataclass
class Report:
    options: Options
    operations: int = 0
    tally: Counter = field(default_factory=Counter)
    lost_answers: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    checked: Counter = field(default_factory=Counter)
    violations: list[tuple[str, str]] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)
    webhooks: dict[str, int] = field(default_factory=dict)  # figure -> count, in the order shown
    promotions: dict[str, int] = field(default_factory=dict)  # figure -> count, in the order shown
    waitlist: dict[str, int] = field(default_factory=dict)  # figure -> count, in the order shown
    bookings: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    logs: list[str] = field(default_factory=list)  # kept when the run failed

    @property
    def ok(self) -> bool:
        return not self.violations


class _Log(io.TextIOBase):
    """The service's stdout and stderr (Powertools logs, metrics, the HTTP server's lines): kept in
    a file, which the run then searches for card numbers."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 (as long as the run)
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChaosRun:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.processes: list[subprocess.Popen] = []
        self.threads: list[threading.Thread] = []
        self.stop = threading.Event()
        self.report = Report(options)
        self.thread_deaths: list[str] = []
        self.done = 0  # operations actually performed
        self.sweeps_during_run = 0  # sweep_waitlist's scheduled runs while the users acted
        self.act_seconds = 0.0  # how long the users acted
        self.settle_rounds = 0  # rounds of (waitlist sweep, holds lapse, booking sweep) at the end
        self.settled = True  # the last round found nothing to do (else the bound cut it short)
        self.receivers: dict[str, Any] = {}  # vendor id -> its webhook receiver (chaos.webhooks)
        self.webhooks_quiet = True  # delivery quiesced before the audit
        self.quiesce_seconds = 0.0
        # Per process: a `make chaos` and the short run of `make test` may run at once.
        self.log_path = RUN_DIR / f"service-{options.seed}-{os.getpid()}.log"

    @staticmethod
    def say(line: str) -> None:
        print(line, file=sys.__stdout__, flush=True)  # sys.stdout is the service's log

    # --- the stack ----------------------------------------------------------------------------

    def start(self) -> None:
        from tools.stack import stack_environment, wait_for_http

        RUN_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        aws_port, self.api_port = _free_port(), _free_port()
        os.environ.update(stack_environment(aws_port))
        os.environ.update({
            # Generous per-traveler limits: the run is many users' worth of traffic on a few accounts.
            "ITINERA_HOLD_ATTEMPTS_PER_MINUTE": "100000", "ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE": "100000",
            "POWERTOOLS_SERVICE_NAME": "itinera-chaos",
            # Webhooks: retried within seconds, not a day (chaos.webhooks); read by settings(),
            # which is built after this.
            **WEBHOOK_SCHEDULE,
        })
        emulator_log = open(RUN_DIR / f"emulator-{os.getpid()}.log", "w")  # noqa: SIM115
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "tools.emulator", "--port", str(aws_port)], cwd=ROOT, env=os.environ.copy(),
            stdout=emulator_log, stderr=subprocess.STDOUT, start_new_session=True))
        wait_for_http(f"http://127.0.0.1:{aws_port}/moto-api/", 30, self.processes[-1])

        # From here on the service's output goes to the log file (and the report to the terminal).
        log = _Log(self.log_path)
        sys.stdout, sys.stderr = log, log  # type: ignore[assignment]
        logging.basicConfig(stream=log, level=logging.INFO, force=True)
        threading.excepthook = self._thread_died

        import boto3

        from chalicelib.core.config import settings
        from tools.bootstrap import bootstrap

        outputs = bootstrap(boto3.session.Session(), sender=settings().sender_email)
        os.environ["ITINERA_USER_POOL_ID"] = outputs["user_pool_id"]
        os.environ["ITINERA_USER_POOL_CLIENT_ID"] = outputs["client_id"]
        settings.cache_clear()
        self.sqs = boto3.session.Session().client("sqs")
        self._shorten_visibility()
        self._start_service()
        wait_for_http(f"http://127.0.0.1:{self.api_port}/health", 30)

    def _shorten_visibility(self) -> None:
        for url in self.sqs.list_queues().get("QueueUrls", []):
            if not url.endswith("-dlq"):
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
                    "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS)})

    def _start_service(self) -> None:
        import boto3

        import app as app_module
        from chalicelib.booking import payments
        from chalicelib.booking.payments.local import LocalProvider
        from tools.api_server import make_server

        from .faults import ChaosProvider, FaultPlan, install_dynamodb_faults
        from .runner import ChaosEventRunner, serialize_metrics
        from .webhooks import install_delivery_observer

        serialize_metrics()
        self.plan = FaultPlan(seed=self.options.seed)
        self.undo_dynamodb = install_dynamodb_faults(self.plan)
        self.webhook_attempts, self.undo_webhooks = install_delivery_observer(self.plan)
        payments.use_provider(ChaosProvider(LocalProvider(), self.plan))  # type: ignore[arg-type]
        self.server = make_server("127.0.0.1", self.api_port, "local")
        self._thread("api", self.server.serve_forever)
        # Two runners: two workers can take messages about the same booking at once, as two
        # concurrent Lambda invocations can. The sweeper's minute is scaled to 3 s.
        self.runners = [ChaosEventRunner(app_module.app, app_module, boto3.session.Session().client("sqs"),
                                         rate_scale=RATE_SCALE, plan=self.plan, seed=self.options.seed + i)
                        for i in range(2)]
        for i, runner in enumerate(self.runners):
            self._thread(f"worker-{i}", runner.run, self.stop)

    def _thread(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _thread_died(self, args: threading.ExceptHookArgs) -> None:
        from .faults import SimulatedCrash
        if args.exc_type is SimulatedCrash:
            # A request handler died mid-request: its client gets no answer, as with a dead process.
            self.plan.count("api_crash_no_answer")
            return
        # Anything else killing a thread (a user, the server, a runner) is a finding, never a
        # line lost in the service's log.
        self.thread_deaths.append(f"{getattr(args.thread, 'name', '?')}: {args.exc_type.__name__}: {args.exc_value}")
        threading.__excepthook__(args)

    def shutdown(self) -> None:
        self.stop.set()
        server = getattr(self, "server", None)
        if server is not None:
            server.shutdown()
        for receiver in self.receivers.values():
            receiver.stop()
        for proc in self.processes:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__

    # --- the users ----------------------------------------------------------------------------

    def _login(self, http: Any, email: str, password: str) -> str:
        response = http.post(f"{self.api}/auth/login", json={"email": email, "password": password}, timeout=30)
        response.raise_for_status()
        return response.json()["id_token"]

    def world(self) -> Any:
        import requests

        from tools.demo_users import DEFAULT_PASSWORD

        from .actors import Account, ListingRef, World

        self.api = f"http://127.0.0.1:{self.api_port}"
        http = requests.Session()
        travelers = []
        for i in range(self.options.travelers):
            email = f"chaos-{self.options.seed}-{i}-{uuid.uuid4().hex[:6]}@example.com"
            created = http.post(f"{self.api}/auth/signup", json={"email": email, "password": PASSWORD,
                                                                  "name": f"Chaos {i}"}, timeout=30)
            created.raise_for_status()
            travelers.append(Account(email, self._login(http, email, PASSWORD)))
        vendors = [Account(e, self._login(http, e, DEFAULT_PASSWORD), v)
                   for e, v in (("vendor@example.com", "ven_aurora"), ("vendor2@example.com", "ven_meridian"))]
        agents = [Account("agent@example.com", self._login(http, "agent@example.com", DEFAULT_PASSWORD))]
        receivers = self._webhooks(http, vendors)
        first = date.today() + timedelta(days=20)
        dates = [(first + timedelta(days=i)).isoformat() for i in range(self.options.dates)]
        kinds = ["event", "hotel", "service", "flight"]
        listings = []
        for i in range(self.options.listings):
            kind = kinds[i % len(kinds)]
            vendor = i % len(vendors)
            place = {"origin": "LIS", "destination": "OPO"} if kind == "flight" else {"city": "LIS"}
            # Some policies refund in full, some in part: cancellations move varied amounts.
            policy = {"free_until_hours": self.rng.choice([0, 24, 2000]),
                      "refund_percent_after": self.rng.choice([0, 50, 100])}
            created = http.post(f"{self.api}/vendor/listings", headers=vendors[vendor].auth, timeout=30, json={
                "kind": kind, "title": f"Chaos {kind} {i}", "currency": "EUR", **place,
                "cancellation_policy": policy})
            created.raise_for_status()
            listing_id = created.json()["listing_id"]
            # Half the listings are small: their dates sell out, and the waitlist has lines.
            capacity = self.rng.randint(1, 2) if i % 2 == 0 else self.rng.randint(2, 5)
            put = http.put(f"{self.api}/vendor/listings/{listing_id}/availability", headers=vendors[vendor].auth,
                           timeout=30, json={"from": dates[0], "to": dates[-1], "capacity": capacity,
                                             "price": self.rng.randint(30, 300) * 100})
            put.raise_for_status()
            listings.append(ListingRef(listing_id, kind, vendor, capacity))
        world = World(self.api, travelers, vendors, agents, listings, dates, receivers=receivers)
        world.promotions = self._promotions(http, vendors, listings)
        return world

    def _promotions(self, http: Any, vendors: list[Any], listings: list[Any]) -> list[Any]:
        """Each vendor's codes: one percent off one of its listings, one fixed amount off all of
        them, one percent off a kind; few uses (3-8) and 1-2 per traveler, so they run out."""
        from .actors import PromoRef

        now = int(time.time())
        window = {"valid_from": now - 3600, "valid_to": now + 120 * 86400}  # past every clock jump
        promotions = []
        for v, vendor in enumerate(vendors):
            mine = [listing for listing in listings if listing.vendor == v]
            specs = [{"percent_off": self.rng.choice([10, 15, 25]), "listing_id": self.rng.choice(mine).listing_id},
                     {"amount_off": self.rng.choice([500, 1500, 5000]), "currency": "EUR"},
                     {"percent_off": self.rng.choice([5, 20]), "kind": self.rng.choice(mine).kind}]
            for n, spec in enumerate(specs):
                # The vendor-wide code applies to most of its holds: the fewest uses, so it is
                # spent while its holds are live (422 exhausted) and a traveler's second use is
                # refused (per_traveler_limit).
                max_uses = self.rng.randint(3, 4) if "amount_off" in spec else self.rng.randint(3, 8)
                per_traveler = 1 if "amount_off" in spec else self.rng.randint(1, 2)
                body = {"code": f"CHAOS{v}{n}-{self.options.seed % 100000}", "max_uses": max_uses,
                        "max_uses_per_traveler": per_traveler, **window, **spec}
                created = http.post(f"{self.api}/vendor/promotions", headers=vendor.auth, json=body, timeout=30)
                created.raise_for_status()
                promotions.append(PromoRef(created.json()["code"], v, max_uses, per_traveler,
                                           spec.get("listing_id"), spec.get("kind")))
        return promotions

    def _webhooks(self, http: Any, vendors: list[Any]) -> dict[int, Any]:
        """Each vendor's webhook, to a receiver of its own; how each misbehaves, and which one
        is down when, follow the seed (a generator of their own: the users' choices stay those
        of the seed)."""
        from .webhooks import ChaosReceiver, misbehaviours

        rng = random.Random(f"webhooks-{self.options.seed}")
        behaviours = misbehaviours(rng, len(vendors))
        receivers = {}
        for i, vendor in enumerate(vendors):
            receiver = ChaosReceiver(vendor_id=vendor.vendor_id, misbehaviour=behaviours[i],
                                     seed=rng.randrange(2 ** 32)).start()
            self.receivers[vendor.vendor_id] = receivers[i] = receiver
            put = http.put(f"{self.api}/vendor/webhook", headers=vendor.auth, json={"url": receiver.url}, timeout=30)
            put.raise_for_status()
            receiver.learn(put.json()["secret"])
        # What happens when, by operations done: one vendor's server is down from about a third
        # of the operations for a quarter of them (across a clock jump, mostly: what fails then
        # is given up), then comes back and asks for a replay of what it missed; every vendor
        # rotates its secret once (besides the users' occasional rotations).
        ops = self.options.operations
        start = rng.uniform(0.3, 0.45)
        down = rng.randrange(len(vendors))
        self.webhook_script = sorted(
            [(int(ops * start), "down", down), (int(ops * (start + rng.uniform(0.2, 0.35))), "up", down)]
            + [(int(ops * rng.uniform(0.1, 0.9)), "rotate", i) for i in range(len(vendors))])
        return receivers

    def act(self, world: Any) -> None:
        from chalicelib.core import clock
        from chalicelib.core.config import settings

        from .actors import act

        remaining = [self.options.operations]
        lock = threading.Lock()
        jumps_at = {self.options.operations * (i + 1) // (self.options.clock_jumps + 1)
                    for i in range(self.options.clock_jumps)}

        def budget() -> bool:
            with lock:
                if remaining[0] <= 0:
                    return False
                remaining[0] -= 1
                self.done = done = self.options.operations - remaining[0]
                if done % 1000 == 0:
                    self.say(f"  {done} operations ...")
                if remaining[0] in jumps_at:
                    # Every live hold lapses at once, mid-traffic; CONFIRMING bookings become
                    # old enough for the sweeper to settle them from the provider.
                    clock.advance(settings().hold_seconds + 1)
                    self.plan.count("clock_jump")
                return True

        sweeps_before = sum(r.invocations["sweep_waitlist"] for r in self.runners)
        acting = time.monotonic()
        self.plan.active = True
        for receiver in self.receivers.values():
            receiver.active = True
        finished = threading.Event()
        script = threading.Thread(target=self._webhook_script, args=(world, finished), name="webhook-script",
                                  daemon=True)
        script.start()
        actors = [threading.Thread(target=act, args=(world, random.Random(self.options.seed * 1000 + i), budget),
                                   name=f"user-{i}") for i in range(self.options.actors)]
        for thread in actors:
            thread.start()
        for thread in actors:
            thread.join()
        finished.set()
        script.join()
        self.sweeps_during_run = sum(r.invocations["sweep_waitlist"] for r in self.runners) - sweeps_before
        self.act_seconds = time.monotonic() - acting
        self.plan.active = False
        for receiver in self.receivers.values():
            receiver.active = False  # the vendors' servers are well again: what waits is delivered
        self.report.operations = self.done

    def _webhook_script(self, world: Any, finished: threading.Event) -> None:
        """Plays `webhook_script` as the operations go by: a receiver down, back up (at the
        latest when the operations are done; its vendor then replays from the last event it
        got before), a vendor rotating its secret."""
        from .actors import Client, replay_webhooks, rotate_webhook_secret

        client, rng = Client(world), random.Random(self.options.seed)
        for at, what, vendor in self.webhook_script:
            while not finished.is_set() and self.done < at:
                finished.wait(0.02)
            receiver = world.receivers[vendor]
            if what == "down" and not finished.is_set():
                receiver.go_down()
                self.plan.count("receiver_down")
            elif what == "up" and not receiver.up:
                try:
                    receiver.come_back()
                except OSError:  # its port was taken meanwhile: the server comes back elsewhere
                    receiver.start(0)
                    client.send("vendor moves its webhook", "PUT", "/vendor/webhook", world.vendors[vendor],
                                {"url": receiver.url})
                replay_webhooks(client, rng, vendor, "vendor replays webhooks (after its outage)")
            elif what == "rotate" and not finished.is_set():
                rotate_webhook_secret(client, rng, vendor)

    # --- the end ------------------------------------------------------------------------------

    def _queue_depth(self) -> int:
        total = 0
        for runner in self.runners:
            for url in runner.queue_urls:
                attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
                total += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
            break  # both runners poll the same queues
        return total + sum(r.pending_echoes() for r in self.runners)

    def drain(self, seconds: float = 120) -> bool:
        for runner in self.runners:
            runner.duplicates = False  # deliver the copies still owed, then no more
        deadline = time.monotonic() + seconds
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self._queue_depth() == 0 else 0
            if quiet >= 3:
                return True
            time.sleep(0.5)
        return False

    def settle(self) -> None:
        """Drain, then let the sweeper find what the workers could not finish (dead-lettered
        messages, crashed invocations): its clock moved past the settle age.

        The units those expiries free go to the waitlist's lines as new holds, which lapse in
        turn, freeing units for the next entry: rounds of (waitlist sweep, every hold lapses,
        booking sweep) until a round offers, expires and settles nothing (bounded: each entry is
        offered once, so the lines run dry). The sweeps run here as well as on their schedules,
        so the end does not wait for a scheduled tick, and a claim a dead worker left
        (CLAIM_SECONDS) has lapsed by then."""
        from chalicelib.booking import domain, workers
        from chalicelib.core import clock
        from chalicelib.core.config import settings
        from chalicelib.waitlist import workers as waitlist_workers

        self.drain()
        self.settled = False
        for _ in range(12):
            self.settle_rounds += 1
            offered = waitlist_workers.sweep()
            self.drain()
            # Every hold still live lapses too: its expiry and the cleanup of its attempts must
            # leave no authorization open either.
            clock.advance(settings().hold_seconds + 1)
            busy = bool(offered.get("offered") or offered.get("expired") or offered.get("failed"))
            for _ in range(4):
                clock.advance(domain.SETTLE_AFTER_SECONDS + 1)
                counts = workers.sweep()
                self.drain()
                if not any(counts.values()):
                    break
                busy = True
            if not busy:
                self.settled = True
                break

    def quiesce_webhooks(self, seconds: float = 90) -> bool:
        """Waits for webhook delivery to end: no event PENDING and nothing on the webhook queue
        (delayed retries included), twice in a row. Bounded: what is still pending then is a
        finding of the audit."""
        import boto3
        from boto3.dynamodb.conditions import Attr

        from chalicelib.core import queues
        from chalicelib.notify.models import WebhookEvent

        table = boto3.session.Session().resource("dynamodb").Table(WebhookEvent.Meta.table_name)
        url = queues.queue_url(queues.WEBHOOKS)
        deadline = time.monotonic() + seconds
        quiet = 0
        while time.monotonic() < deadline:
            pending, kwargs = 0, {"ConsistentRead": True, "FilterExpression": Attr("status").eq("PENDING"),
                                  "Select": "COUNT"}
            while True:
                page = table.scan(**kwargs)
                pending += page["Count"]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])["Attributes"]
            queued = sum(int(v) for v in attrs.values()) + sum(r.pending_echoes() for r in self.runners)
            quiet = quiet + 1 if pending == 0 and queued == 0 else 0
            if quiet >= 2:
                return True
            time.sleep(0.5)
        return False

    def _stop_service(self) -> None:
        for name, thread in (("the API server", self.threads[0]), *((f"worker runner {i}", t)
                                                                    for i, t in enumerate(self.threads[1:]))):
            if not thread.is_alive():
                self.thread_deaths.append(f"{name} was dead before the end of the run")
        self.stop.set()
        for thread in self.threads[1:]:
            thread.join(timeout=10)

    def check(self) -> None:
        import boto3

        from chalicelib.booking.models import ActiveHolds, Booking, LedgerEntry, RefundRecord
        from chalicelib.booking.payments.models import LocalPayment
        from chalicelib.inventory.models import AvailabilityDay

        from .invariants import Findings, check_bookings, check_card_numbers, check_inventory, scan

        dynamodb = boto3.session.Session().resource("dynamodb")
        tables = {name: list(scan(dynamodb.Table(name))) for name in dynamodb.meta.client.list_tables()["TableNames"]}
        bookings = tables[Booking.Meta.table_name]
        payments = [p for p in tables[LocalPayment.Meta.table_name] if p["pk"].startswith("payment#")]
        findings = Findings()
        check_inventory(findings, tables[AvailabilityDay.Meta.table_name], bookings)
        check_bookings(findings, bookings, tables[LedgerEntry.Meta.table_name], payments,
                       tables[ActiveHolds.Meta.table_name], tables[RefundRecord.Meta.table_name])
        for death in self.thread_deaths:
            findings.check("no thread died", False, death)
        findings.check("every operation performed", self.done == self.options.operations,
                       f"{self.done} of {self.options.operations} operations were performed")
        failed_copies = sum(r.duplicate_failures() for r in self.runners)
        findings.check("a duplicate delivered without faults changes nothing", failed_copies == 0,
                       f"{failed_copies} duplicate deliveries failed after the faults stopped")
        given_up = self._check_queues(findings)
        self._check_webhooks(findings, tables, bookings, given_up)
        self._check_promotions(findings, tables, bookings)
        self._check_waitlist(findings, tables, bookings)
        sys.stdout.flush()
        check_card_numbers(findings, tables, [self.log_path])
        self.report.checked = findings.checked
        self.report.violations = findings.violations
        self.report.bookings = Counter(b["status"] for b in bookings)

    def _check_webhooks(self, findings: Any, tables: dict[str, list[dict]], bookings: list[dict],
                        given_up: list[dict]) -> None:
        from chalicelib.booking.models import LedgerEntry
        from chalicelib.notify.models import WebhookEvent

        from .invariants import check_webhook_deliveries, check_webhook_events, check_webhook_replays
        from .webhooks import receipt_rows

        events = tables[WebhookEvent.Meta.table_name]
        for receiver in self.receivers.values():
            receiver.wait_idle(5)  # a slow answer still sleeping is recorded before the audit
        receipts = receipt_rows(self.receivers)
        findings.check("webhook: delivery quiesced before the audit", self.webhooks_quiet,
                       "events were still PENDING or queued after the bounded wait")
        check_webhook_events(findings, events, bookings, tables[LedgerEntry.Meta.table_name])
        check_webhook_deliveries(findings, events, receipts, given_up,
                                 {v: r.bad_signatures for v, r in self.receivers.items()})
        check_webhook_replays(findings, events, receipts, self._world.replays)
        statuses = Counter(e["status"] for e in events)
        accepted = Counter(r["event_id"] for r in receipts if 200 <= r["status"] < 300 and not r["timed_out"])
        attempts = self.webhook_attempts.outcomes
        self.report.webhooks = {
            "events written": len(events),
            "delivered": statuses["DELIVERED"],
            "dead-lettered": statuses["DEAD"],
            "  of which given up as 'no result recorded for the last attempt'":
            sum(1 for e in events if e["status"] == "DEAD"
                and e.get("last_error") == "no result recorded for the last attempt"),
            "skipped (no endpoint)": statuses["SKIPPED"],
            "still pending": statuses["PENDING"],
            "events replayed": sum(1 for e in events if int(e.get("replays") or 0)),
            "seconds waited after settling for delivery to quiesce": round(self.quiesce_seconds),
            "attempts (POSTs by the worker)": sum(attempts.values()),
            **{f"  answered {outcome}": n for outcome, n in sorted(attempts.items())},
            "attempts recorded on the events (since their last replay)": sum(int(e.get("attempts") or 0)
                                                                             for e in events),
            "webhook DLQ messages (events given up)": len(given_up),
            "requests the receivers got": len(receipts),
            "  events accepted more than once (at-least-once, replays)": sum(1 for n in accepted.values() if n > 1),
            "  bad signatures": sum(r.bad_signatures for r in self.receivers.values()),
            "secret rotations": sum(n for (op, status), n in self._world.tally.items()
                                    if op == "vendor rotates webhook secret" and status == 200),
            "replays requested": sum(n for (op, status), n in self._world.tally.items()
                                     if op.startswith("vendor replays webhooks") and status == 202),
        }
        for receiver in self.receivers.values():
            for kind, n in receiver.injected.items():
                self.plan.count(f"receiver_{kind}", n)

    def _check_promotions(self, findings: Any, tables: dict[str, list[dict]], bookings: list[dict]) -> None:
        from chalicelib.promotions.models import Promotion, PromotionUse

        from .invariants import check_booking_amounts, check_promotions, keeps_promotion_use

        promotions = tables[Promotion.Meta.table_name]
        check_promotions(findings, promotions, tables[PromotionUse.Meta.table_name], bookings)
        check_booking_amounts(findings, bookings)
        world = self._world
        with_code = [b for b in bookings if b.get("promo_code")]
        held_with_code = sum(n for (op, status), n in world.tally.items() if "(promo code)" in op and status == 201)
        self.report.promotions = {
            "codes created (2 vendors)": len(promotions),
            "uses at the end (sum over codes)": sum(int(p.get("uses") or 0) for p in promotions),
            "codes used up (uses = max_uses)": sum(1 for p in promotions
                                                  if int(p.get("uses") or 0) >= int(p.get("max_uses") or 0)),
            "holds asked with a code": sum(world.promo_holds.values()),
            "  placed (201)": held_with_code,
            **{f"  refused 422 PROMO_INVALID: {reason}": n for reason, n in sorted(world.promo_refusals.items())},
            **{f"  other answers {status}": n for status, n in sorted(world.promo_holds.items())
               if status not in ("201", "422")},
            "bookings with a code": len(with_code),
            "  keeping their use (live, confirmed, cancelled after confirming)": sum(
                1 for b in with_code if keeps_promotion_use(b)),
            "  use given back (expired, cancelled held, failed)": sum(
                1 for b in with_code if not keeps_promotion_use(b)),
            "discount given on bookings keeping their use (minor units)": sum(
                int(b.get("discount") or 0) for b in with_code if keeps_promotion_use(b)),
        }

    def _check_waitlist(self, findings: Any, tables: dict[str, list[dict]], bookings: list[dict]) -> None:
        from chalicelib.core.models import IdempotencyRecord
        from chalicelib.waitlist.models import WaitlistEntry, WaitlistSlot

        from chalicelib.waitlist.domain import MAX_ACTIVE_ENTRIES

        from chalicelib.inventory.models import AvailabilityDay

        from .invariants import check_waitlist, check_waitlist_cap_refusals, check_waitlist_served

        entries = tables[WaitlistEntry.Meta.table_name]
        check_waitlist(findings, entries, tables[WaitlistSlot.Meta.table_name], bookings,
                       tables[IdempotencyRecord.Meta.table_name])
        check_waitlist_cap_refusals(findings, entries, self._world.waitlist_cap_refusals, MAX_ACTIVE_ENTRIES)
        check_waitlist_served(findings, entries, tables[AvailabilityDay.Meta.table_name])
        statuses = Counter(e["status"] for e in entries)
        offered = {e.get("booking_id") for e in entries if e.get("status") == "OFFERED"}
        offered_bookings = Counter(b["status"] for b in bookings if b["booking_id"] in offered)
        findings.check("waitlist: settling ran dry (no offer, expiry or settlement left)", self.settled,
                       f"still busy after {self.settle_rounds} rounds")
        sweeps = self.sweeps_during_run
        if self.act_seconds >= 3 * 60 * RATE_SCALE:  # a run shorter than 3 ticks may fall between two
            findings.check("waitlist: the sweep ran on its schedule during the operations", sweeps > 0,
                           f"sweep_waitlist never ran in the {self.act_seconds:.0f} s the users acted")
        tally = self._world.tally
        self.report.waitlist = {
            "joins asked": sum(n for (op, _), n in tally.items() if op == "join waitlist"),
            "  joined (201)": tally[("join waitlist", 201)],
            "  already waiting for those dates (200)": tally[("join waitlist", 200)],
            "  refused: not sold out (409)": tally[("join waitlist", 409)],
            "  refused: at the cap of active entries (429)": tally[("join waitlist", 429)],
            "leaves asked (twice at once counted twice)": sum(n for (op, _), n in tally.items()
                                                               if op.startswith("leave waitlist")),
            "  left (204)": sum(n for (op, status), n in tally.items() if op.startswith("leave waitlist")
                                and status == 204),
            "  refused: offered or being offered (409)": sum(n for (op, status), n in tally.items()
                                                             if op.startswith("leave waitlist") and status == 409),
            "entries at the end": len(entries),
            "  OFFERED (got an automatic hold)": statuses["OFFERED"],
            "  LEFT": statuses["LEFT"],
            "  EXPIRED": statuses["EXPIRED"],
            "  still WAITING": statuses["WAITING"],
            "  OFFERING (must be 0)": statuses["OFFERING"],
            **{f"automatic holds now {status}": n for status, n in sorted(offered_bookings.items())},
            "waitlist sweeps on the schedule during the operations": sweeps,
            "match_waitlist invocations (all, duplicates included)": sum(
                r.invocations["match_waitlist"] for r in self.runners),
            "settling rounds (waitlist sweep, holds lapse, booking sweep)": self.settle_rounds,
        }

    def _check_queues(self, findings: Any) -> list[dict]:
        """Every queue empty; what the DLQs hold goes in the report. The webhook DLQ's
        `webhook-dead` messages are the events given up, where they belong: they are returned
        for the webhook audit, not listed as dead letters (a webhook *queue message* redriven
        there would be, as any other)."""
        failures: dict[str, list[str]] = {}
        given_up: list[dict] = []
        for runner in self.runners:
            for message_id, why in runner.failures_seen().items():
                failures.setdefault(message_id, []).extend(why)
        for url in self.sqs.list_queues().get("QueueUrls", []):
            name = url.rsplit("/", 1)[-1]
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            left = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
            if not name.endswith("-dlq"):
                findings.check("every message processed or dead-lettered", left == 0, f"{name}: {left} left")
                continue
            for message in self._peek(url, left):
                if name.endswith("-webhooks-dlq"):
                    try:
                        body = json.loads(message["Body"])
                    except ValueError:
                        body = None
                    if isinstance(body, dict) and body.get("type") == "webhook-dead":
                        given_up.append(body)
                        continue
                why = Counter(failures.get(message["MessageId"], ["no failure recorded"]))
                self.report.dead_letters.append(
                    f"{name}: {message['Body'][:120]} -- " + "; ".join(f"{w} x{n}" for w, n in why.items()))
        return given_up

    def _peek(self, url: str, count: int) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(count + 5):
            if len(seen) >= count:
                break
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not got:
                break
            seen.update((m["MessageId"], m) for m in got)
        return list(seen.values())

    # --- all of it ----------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        try:
            self.start()
            world = self._world = self.world()
            self.act(world)
            self.settle()
            waited = time.monotonic()
            self.webhooks_quiet = self.quiesce_webhooks()
            self.quiesce_seconds = time.monotonic() - waited
            self._stop_service()  # the tables stand still while they are audited
            self.check()
            self.report.tally = world.tally
            self.report.lost_answers = world.lost_answers
            self.report.faults = self.plan.injected
            for error in world.server_errors:
                self.report.violations.append(("no unexpected 5xx", error))
        finally:
            self.shutdown()
        self.report.seconds = time.monotonic() - started
        if self.report.ok and not self.options.keep_logs:  # a failed run keeps its logs for the replay
            self.log_path.unlink(missing_ok=True)
            (RUN_DIR / f"emulator-{os.getpid()}.log").unlink(missing_ok=True)
        else:
            self.report.logs = [str(self.log_path), str(RUN_DIR / f"emulator-{os.getpid()}.log")]
            if self.options.keep_logs:
                self.say(f"Logs kept: {', '.join(self.report.logs)}")
        return self.report
