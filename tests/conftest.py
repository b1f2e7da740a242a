"""Shared test setup.

The environment is set before anything imports the app (DESIGN pitfall 6: chalice.test applies
the stage's variables only during an invoke). Integration tests run against `moto.mock_aws`
with the same bootstrap the local stack uses; tokens are real Cognito tokens from the
emulator, verified against the emulator's published key (loaded through ITINERA_JWKS_URL,
since moto's in-process mock does not serve HTTP).
"""
from __future__ import annotations

import collections
import contextlib
import copy
import copyreg
import gzip
import os
import tempfile
import threading
from pathlib import Path

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "ITINERA_STAGE": "local", "ITINERA_AUTO_CONFIRM": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Itinera", "POWERTOOLS_SERVICE_NAME": "itinera",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
})
for _var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(_var, None)

import moto  # noqa: E402  (moto must patch botocore before any client exists)
import pytest  # noqa: E402


# Every test starts a fresh emulator and so fresh boto3 sessions, and each session's loader
# parsed the service models (JSON) again: about half a second per test. The service's own
# one-loader-per-process (core.aws) serves the tests' sessions too.
from chalicelib.core.aws import share_aws_clients  # noqa: E402

share_aws_clients()

# The in-process mock gets the emulator's transaction (tools/emulator.py): moto's own deep-copies
# every table a transaction touches, so a test's transactions slowed as its tables filled (the
# seeded demo took about a minute). Tests and `make run` now share one implementation.
from tools.emulator import install as install_emulator_fixes  # noqa: E402

install_emulator_fixes()


def _moto_public_jwks() -> str:
    source = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-public.json.gz"
    target = Path(tempfile.gettempdir()) / f"itinera-moto-jwks-{os.getpid()}.json"
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target.as_uri()


os.environ["ITINERA_JWKS_URL"] = _moto_public_jwks()

from tools.demo_users import DEFAULT_PASSWORD, DEMO_USERS  # noqa: E402


# The files that take longest (seconds of one worker, measured with --durations=0), started
# first. xdist's --dist loadfile hands whole files to the two workers in collection order; by
# default it reorders them by their number of tests, which ran these few-test files last and left
# one worker alone with them for minutes. pytest.ini turns that reordering off; this order is:
# these first, then the rest by number of tests, as xdist would.
LONG_FILES = (
    "tests/e2e/test_fuzz_api.py",  # ~80 s
    "tests/e2e/test_fault_injection.py",  # ~70 s
    "tests/integration/test_demo_experience_seed.py",  # ~65 s
    "tests/integration/test_booking_state_machine.py",  # ~55 s
    "tests/integration/test_search_reference.py",  # ~45 s
    "tests/integration/test_vendor_availability_race.py",  # ~30 s
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def file_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    counts = collections.Counter(file_of(item) for item in items)
    first = {path: rank for rank, path in enumerate(LONG_FILES)}
    # Stable: a file's tests keep their order, and a file stays in one piece.
    items.sort(key=lambda item: (first.get(file_of(item), len(first)), -counts[file_of(item)], file_of(item)))


def reset_app_state() -> None:
    """Forget every cached client, setting and key, so a new emulator starts clean."""
    from chalicelib.core import aws, queues
    from chalicelib.core.auth import reset_verifier
    from chalicelib.core.config import settings
    from chalicelib.inventory import reservations

    aws.reset_clients()
    queues.reset_queue_urls()
    reservations.forget()  # the quotes a previous test's listings left (worlds reuse listing ids)
    reset_verifier()
    settings.cache_clear()


# The services the bootstrap writes to; their emulated state is what a snapshot keeps.
_BOOTSTRAPPED_SERVICES = ("dynamodb", "sqs", "cognito-idp", "ses")


@contextlib.contextmanager
def _locks_copied_fresh():
    """moto's queues and tables hold locks and conditions, which deepcopy refuses; a copy of
    the emulator's state gets new, unheld ones (nothing holds them between tests)."""
    kinds = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock,
             threading.Condition: threading.Condition}
    for kind, make in kinds.items():
        copyreg.pickle(kind, lambda _lock, make=make: (make, ()))
    try:
        yield
    finally:
        for kind in kinds:
            copyreg.dispatch_table.pop(kind, None)


class _EmulatorSnapshot:
    """The emulator's state at one moment, copied back into a fresh emulator for each test.

    Bootstrapping (about 30 tables, a dozen queues, the user pool and its demo users) took over
    a second, and nearly every integration test starts from it: half of the suite's time. It
    now runs once per test process; each test gets a deep copy of the state it left, in about
    10 ms, so it still starts from exactly what `make run` creates, and nothing it writes
    outlives it. A heavier world (the seeded demo) is kept the same way (`world_once`).
    """

    def __init__(self, result) -> None:
        from moto.backends import get_backend

        with _locks_copied_fresh():
            self.state = {(service, account, region): copy.deepcopy(backend.__dict__)
                          for service in _BOOTSTRAPPED_SERVICES
                          for account, regions in get_backend(service).items()
                          for region, backend in regions.items()}
        self.result = copy.deepcopy(result)

    def restore(self):
        from moto.backends import get_backend

        with _locks_copied_fresh():
            for (service, account, region), state in self.state.items():
                get_backend(service)[account][region].__dict__ = copy.deepcopy(state)
        return copy.deepcopy(self.result)


_snapshots: dict[object, _EmulatorSnapshot] = {}

# Calls that leave the emulator as it was, for a test's own reads. Sign-ins add tokens only, and
# a restored world keeps the live ones (_carry_tokens), so a token minted before still refreshes.
_READS = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "InitiateAuth", "AdminInitiateAuth")


class _Writes:
    """Whether anything may have changed the emulator since aws_env restored the bootstrap: any
    AWS call but a read, from the app or the test (every client goes through botocore)."""

    def __init__(self) -> None:
        self.active = False  # only inside aws_env: worlds are copies of its emulator alone
        self.seen = True

    def record(self, operation: str) -> None:
        if not operation.startswith(_READS):
            self.seen = True


_writes = _Writes()


def _install_write_tracking() -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    if getattr(original, "_itinera_tracks_writes", False):
        return

    def tracked(self, operation_name, api_params):
        _writes.record(operation_name)
        return original(self, operation_name, api_params)

    tracked._itinera_tracks_writes = True
    BaseClient._make_api_call = tracked


_install_write_tracking()


def _carry_tokens(restore):
    """Restore a world, keeping the tokens the live user pools issued (they hold moto's record
    of refresh tokens: without it a sign-in made before the restore could not refresh)."""
    from moto.backends import get_backend

    def tokens() -> dict:
        return {(account, region, pool_id): (pool.refresh_tokens, pool.access_tokens, pool.id_tokens)
                for account, regions in get_backend("cognito-idp").items()
                for region, backend in regions.items() for pool_id, pool in backend.user_pools.items()}

    live = tokens()
    result = restore()
    for where, (refresh, access, identity) in tokens().items():
        if where in live:
            refresh.update(live[where][0])
            access.update(live[where][1])
            identity.update(live[where][2])
    return result


def _world(key, build):
    if key in _snapshots:
        return _carry_tokens(_snapshots[key].restore)
    snapshot = _snapshots[key] = _EmulatorSnapshot(build())
    return copy.deepcopy(snapshot.result)


def world_once(key, build):
    """What `build()` makes on the freshly bootstrapped emulator (inside `aws_env`: listings, a
    seeded catalog), made the first time a test of this process asks for `key` and copied back
    for every later one; returns what build returned (ids). The key names everything the world
    depends on (the module, the date of a calendar).

    Only over the bootstrap's state: once the test wrote anything (another world, a booking, a
    user's attribute), `build()` runs for it as before, so a restore never erases its data."""
    if not _writes.active or _writes.seen:
        return build()
    try:
        return _world(key, build)
    finally:
        _writes.seen = True


@pytest.fixture
def aws_env():
    """An in-process emulator with every resource and the demo users, as `make run` creates them."""
    import boto3

    from tools.bootstrap import bootstrap

    def bootstrapped() -> dict:
        from chalicelib.core.config import settings
        return bootstrap(boto3.session.Session(), sender=settings().sender_email, demo_password=DEFAULT_PASSWORD)

    with moto.mock_aws():
        reset_app_state()
        outputs = _world("bootstrapped", bootstrapped)
        os.environ["ITINERA_USER_POOL_ID"] = outputs["user_pool_id"]
        os.environ["ITINERA_USER_POOL_CLIENT_ID"] = outputs["client_id"]
        reset_app_state()
        _writes.active, _writes.seen = True, False
        try:
            yield outputs
        finally:
            _writes.active, _writes.seen = False, True
            reset_app_state()


@pytest.fixture
def client(aws_env):
    """chalice.test.Client around the real app, inside the emulator."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


class Api:
    """Small JSON helper over chalice.test.Client: `api.post("/holds", body, token=t)`."""

    def __init__(self, client) -> None:
        self.client = client

    def request(self, method: str, path: str, body=None, *, token: str | None = None,
                headers: dict[str, str] | None = None):
        import json

        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        raw = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
        response = self.client.http.request(method, path, headers=all_headers, body=raw)
        response.data = json.loads(response.body) if response.body else None
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, email: str, password: str = DEFAULT_PASSWORD) -> str:
        response = self.post("/auth/login", {"email": email, "password": password})
        assert response.status_code == 200, response.data
        return response.data["id_token"]


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def tokens(api) -> dict[str, str]:
    """An ID token for each demo role: traveler, traveler2, vendor, vendor2, agent, admin."""
    names = {"traveler@example.com": "traveler", "traveler2@example.com": "traveler2",
             "vendor@example.com": "vendor", "vendor2@example.com": "vendor2",
             "agent@example.com": "agent", "admin@example.com": "admin"}
    return {names[u.email]: api.login(u.email) for u in DEMO_USERS}



@pytest.fixture
def fake(aws_env):
    """The in-memory payment provider, served as the configured one (the provider's side:
    failures, lost answers, pending refunds; see chalicelib/booking/payments/fake.py)."""
    from chalicelib.booking.payments import reset_provider, use_provider
    from chalicelib.booking.payments.fake import FakePaymentProvider

    provider = FakePaymentProvider()
    use_provider(provider)
    yield provider
    reset_provider()


@pytest.fixture
def serialized_moto(monkeypatch):
    """moto applies a transaction item by item and, on failure, restores a copy of the table
    taken before, with no lock: threads racing in-process can see or erase each other's writes.
    DynamoDB isolates transactions (or cancels one with TransactionConflict), so in the race
    tests each DynamoDB call runs alone; the threads still interleave between calls."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "get_item", "put_item", "update_item", "delete_item", "query",
                 "batch_get_item", "scan"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)
