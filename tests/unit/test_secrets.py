"""core.secrets: Secrets Manager when the secret id variable is set, the plain variable otherwise.

Secrets Manager is moto's (`mock_aws`); its failures (denied, throttled, down) are botocore
Stubber answers, which moto cannot produce on demand.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import moto
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as powertools_base
from botocore.stub import Stubber

from chalicelib.booking.payments import stripe_provider, webhooks
from chalicelib.booking.payments.stripe_provider import StripeProvider
from chalicelib.core import config
from chalicelib.core.config import LOCAL_CURSOR_SECRET, ConfigurationError, settings
from chalicelib.core.errors import is_transient
from chalicelib.core.secrets import MAX_AGE_SECONDS, SecretUnavailable, secret_value

NAME, ID_NAME = "ITINERA_TEST_SECRET", "ITINERA_TEST_SECRET_ID"  # made up: the rule is the same for all
# (plain variable, secret id variable) of each real secret, as infra.template sets them.
CURSOR = (config.CURSOR_SECRET_VARIABLE, config.CURSOR_SECRET_ID_VARIABLE)
STRIPE_KEY = (stripe_provider.API_KEY_VARIABLE, stripe_provider.API_KEY_SECRET_ID_VARIABLE)
WEBHOOK = (webhooks.SECRET_VARIABLE, webhooks.SECRET_ID_VARIABLE)


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    """No value cached by Powertools or settings() leaks into or out of a test."""
    for variable in (NAME, ID_NAME, *CURSOR, *STRIPE_KEY, *WEBHOOK):
        monkeypatch.delenv(variable, raising=False)
    parameters.clear_caches()
    settings.cache_clear()
    yield
    parameters.clear_caches()
    settings.cache_clear()


@pytest.fixture
def secretsmanager():
    with moto.mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def stored(secretsmanager, monkeypatch, value: str, id_variable: str = ID_NAME) -> str:
    """Store `value` as a secret and point `id_variable` at its ARN, as infra does; the ARN."""
    arn = secretsmanager.create_secret(Name=f"itinera/{id_variable}", SecretString=value)["ARN"]
    monkeypatch.setenv(id_variable, arn)
    return arn


def failing(code: str, status: int) -> None:
    """Make the next read answer `code` (HTTP `status`), as Secrets Manager would."""
    client = boto3.client("secretsmanager", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("get_secret_value", service_error_code=code, http_status_code=status)
    stubber.activate()
    powertools_base.DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=client)


# -- where the value comes from ----------------------------------------------------------------

def test_the_variable_names_are_the_ones_infra_sets():
    """The contract with infra.template, spelled out: a typo here would silently fall back to
    the plain variable (unset on deployed stages)."""
    assert (CURSOR, STRIPE_KEY, WEBHOOK) == (
        ("ITINERA_CURSOR_SECRET", "ITINERA_CURSOR_SECRET_ID"),
        ("ITINERA_STRIPE_API_KEY", "ITINERA_STRIPE_API_KEY_SECRET_ID"),
        ("ITINERA_STRIPE_WEBHOOK_SECRET", "ITINERA_STRIPE_WEBHOOK_SECRET_ID"))


def test_with_a_secret_id_the_value_comes_from_secrets_manager(secretsmanager, monkeypatch):
    stored(secretsmanager, monkeypatch, "from-secrets-manager")
    monkeypatch.setenv(NAME, "from-the-environment")  # the id wins: deployed stages set only it

    assert secret_value(NAME, ID_NAME) == "from-secrets-manager"


def test_without_a_secret_id_the_plain_variable_is_the_value(monkeypatch):
    monkeypatch.setenv(NAME, "from-the-environment")
    assert secret_value(NAME, ID_NAME) == "from-the-environment"


def test_with_neither_variable_there_is_no_value():
    assert secret_value(NAME, ID_NAME) is None


# -- caching -----------------------------------------------------------------------------------

@pytest.fixture
def later(monkeypatch):
    """Move Powertools' cache clock `seconds` ahead."""
    def move(seconds: int) -> None:
        class Later(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + timedelta(seconds=seconds)
        monkeypatch.setattr(powertools_base, "datetime", Later)
    return move


def test_a_read_value_is_reused_until_max_age_without_asking_again(secretsmanager, monkeypatch, later):
    arn = stored(secretsmanager, monkeypatch, "first")
    assert secret_value(NAME, ID_NAME) == "first"
    secretsmanager.put_secret_value(SecretId=arn, SecretString="rotated")
    later(MAX_AGE_SECONDS - 1)

    assert secret_value(NAME, ID_NAME) == "first"  # from the cache: no second GetSecretValue


def test_a_rotated_value_is_read_once_max_age_has_passed(secretsmanager, monkeypatch, later):
    arn = stored(secretsmanager, monkeypatch, "first")
    secret_value(NAME, ID_NAME)
    secretsmanager.put_secret_value(SecretId=arn, SecretString="rotated")
    later(MAX_AGE_SECONDS + 1)

    assert secret_value(NAME, ID_NAME) == "rotated"


# -- failures ----------------------------------------------------------------------------------

def test_a_missing_secret_is_a_configuration_error_naming_the_id_variable(secretsmanager, monkeypatch):
    monkeypatch.setenv(ID_NAME, "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")
    with pytest.raises(ConfigurationError, match=f"{ID_NAME} .*ResourceNotFoundException"):
        secret_value(NAME, ID_NAME)


def test_a_denied_secret_is_a_configuration_error_naming_the_id_variable(monkeypatch):
    monkeypatch.setenv(ID_NAME, "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf")
    failing("AccessDeniedException", 400)
    with pytest.raises(ConfigurationError, match=f"{ID_NAME} .*AccessDeniedException"):
        secret_value(NAME, ID_NAME)


@pytest.mark.parametrize("code, status", [("ThrottlingException", 400), ("InternalServiceError", 500)])
def test_a_busy_or_failing_secrets_manager_is_transient(monkeypatch, code, status):
    """Transient: the API answers 503 with Retry-After (core.api), not a 500."""
    monkeypatch.setenv(ID_NAME, "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf")
    failing(code, status)
    with pytest.raises(SecretUnavailable) as raised:
        secret_value(NAME, ID_NAME)
    assert is_transient(raised.value)


def test_reading_a_secret_is_not_paid_for_at_cold_start():
    """Powertools' parameters utility (and boto3) is imported on first read, not with config."""
    root = Path(__file__).resolve().parents[2]
    check = ("import sys, chalicelib.core.config, chalicelib.core.secrets; "
             "loaded = [m for m in ('boto3', 'aws_lambda_powertools.utilities.parameters') if m in sys.modules]; "
             "assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", check], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- the cursor secret -------------------------------------------------------------------------

def test_a_deployed_stage_reads_its_cursor_secret_from_secrets_manager(secretsmanager, monkeypatch):
    monkeypatch.setenv("ITINERA_STAGE", "prod")
    stored(secretsmanager, monkeypatch, "cursor-secret-of-prod", id_variable="ITINERA_CURSOR_SECRET_ID")
    assert settings().cursor_secret == "cursor-secret-of-prod"


def test_settings_are_built_without_reading_the_secret(secretsmanager, monkeypatch):
    """settings() makes no AWS call: a secret id naming nothing fails at first use, not before."""
    monkeypatch.setenv("ITINERA_STAGE", "prod")
    monkeypatch.setenv("ITINERA_CURSOR_SECRET_ID", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")
    current = settings()
    with pytest.raises(ConfigurationError, match="ITINERA_CURSOR_SECRET_ID"):
        current.cursor_secret  # noqa: B018  (the read is the point)


def test_settings_do_not_hold_the_cursor_secret_past_the_secrets_cache(secretsmanager, monkeypatch):
    monkeypatch.setenv("ITINERA_STAGE", "prod")
    arn = stored(secretsmanager, monkeypatch, "before", id_variable="ITINERA_CURSOR_SECRET_ID")
    assert settings().cursor_secret == "before"
    secretsmanager.put_secret_value(SecretId=arn, SecretString="after")
    parameters.clear_caches()  # as if MAX_AGE_SECONDS had passed; settings() stays cached

    assert settings().cursor_secret == "after"


def test_a_deployed_stage_without_any_cursor_secret_refuses_naming_both_variables(monkeypatch):
    monkeypatch.setenv("ITINERA_STAGE", "prod")
    with pytest.raises(ConfigurationError, match="ITINERA_CURSOR_SECRET_ID.*ITINERA_CURSOR_SECRET "):
        settings().cursor_secret  # noqa: B018


def test_the_local_default_from_secrets_manager_is_refused_on_a_deployed_stage(secretsmanager, monkeypatch):
    monkeypatch.setenv("ITINERA_STAGE", "prod")
    stored(secretsmanager, monkeypatch, LOCAL_CURSOR_SECRET, id_variable="ITINERA_CURSOR_SECRET_ID")
    with pytest.raises(ConfigurationError):
        settings().cursor_secret  # noqa: B018


# -- the Stripe secrets ------------------------------------------------------------------------

def test_the_stripe_provider_takes_its_api_key_from_secrets_manager(secretsmanager, monkeypatch):
    class Built(StripeProvider):
        def __init__(self, api_key: str, **_: object) -> None:  # no Stripe client: just the key
            self.api_key = api_key

    stored(secretsmanager, monkeypatch, "sk_test_from_secrets_manager", id_variable="ITINERA_STRIPE_API_KEY_SECRET_ID")
    assert Built.from_env().api_key == "sk_test_from_secrets_manager"


def test_a_stripe_key_stored_after_the_placeholder_reaches_a_warm_provider(secretsmanager, monkeypatch):
    from chalicelib.booking import payments

    monkeypatch.setenv("ITINERA_PAYMENT_PROVIDER", "stripe")
    arn = stored(secretsmanager, monkeypatch, "PLACEHOLDER", id_variable="ITINERA_STRIPE_API_KEY_SECRET_ID")
    payments.reset_provider()
    try:
        before = payments.provider()
        assert payments.provider() is before  # built once while the key stays
        secretsmanager.put_secret_value(SecretId=arn, SecretString="sk_live_real")
        parameters.clear_caches()  # as if MAX_AGE_SECONDS had passed

        after = payments.provider()
    finally:
        payments.reset_provider()
    assert after is not before and after._client._requestor.api_key == "sk_live_real"


def test_a_webhook_is_verified_with_the_signing_secret_from_secrets_manager(secretsmanager, monkeypatch):
    stored(secretsmanager, monkeypatch, "whsec_from_secrets_manager", id_variable="ITINERA_STRIPE_WEBHOOK_SECRET_ID")
    payload = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"})
    timestamp = int(time.time())
    digest = hmac.new(b"whsec_from_secrets_manager", f"{timestamp}.{payload}".encode(), hashlib.sha256)

    event = webhooks.verify(payload, f"t={timestamp},v1={digest.hexdigest()}", webhooks.webhook_secret())
    assert event["id"] == "evt_1"


def test_a_webhook_secret_id_naming_no_secret_is_a_configuration_error_not_a_404(secretsmanager, monkeypatch):
    """Set but unreadable is our fault (500), unlike a stage that takes no Stripe events (404)."""
    monkeypatch.setenv("ITINERA_STRIPE_WEBHOOK_SECRET_ID", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")
    with pytest.raises(ConfigurationError, match="ITINERA_STRIPE_WEBHOOK_SECRET_ID"):
        webhooks.webhook_secret()
