"""Shared test setup.

The environment is set before anything imports the app (DESIGN pitfall 6: chalice.test applies
the stage's variables only during an invoke). Integration tests run against `moto.mock_aws`
with the same bootstrap the local stack uses; tokens are real Cognito tokens from the
emulator, verified against the emulator's published key (loaded through ITINERA_JWKS_URL,
since moto's in-process mock does not serve HTTP).
"""
from __future__ import annotations

import gzip
import os
import tempfile
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


def _moto_public_jwks() -> str:
    source = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-public.json.gz"
    target = Path(tempfile.gettempdir()) / f"itinera-moto-jwks-{os.getpid()}.json"
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target.as_uri()


os.environ["ITINERA_JWKS_URL"] = _moto_public_jwks()

from tools.demo_users import DEFAULT_PASSWORD, DEMO_USERS  # noqa: E402


def reset_app_state() -> None:
    """Forget every cached client, setting and key, so a new emulator starts clean."""
    from chalicelib.core import aws, queues
    from chalicelib.core.auth import reset_verifier
    from chalicelib.core.config import settings

    aws.reset_clients()
    queues.reset_queue_urls()
    reset_verifier()
    settings.cache_clear()


@pytest.fixture
def aws_env():
    """An in-process emulator with every resource and the demo users, as `make run` creates them."""
    import boto3

    from tools.bootstrap import bootstrap

    with moto.mock_aws():
        reset_app_state()
        from chalicelib.core.config import settings
        outputs = bootstrap(boto3.session.Session(), sender=settings().sender_email,
                            demo_password=DEFAULT_PASSWORD)
        os.environ["ITINERA_USER_POOL_ID"] = outputs["user_pool_id"]
        os.environ["ITINERA_USER_POOL_CLIENT_ID"] = outputs["client_id"]
        reset_app_state()
        yield outputs
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
