"""Per-stage configuration, read from environment variables.

Nothing here talks to AWS when imported or when `settings()` is built: the module is imported
at cold start, and the values come from `.chalice/config.json` (deployed stages) or from the
local stack runner's environment. The one value that may come from AWS, the cursor secret, is
read at use time (`Settings.cursor_secret`, through core.secrets).
Call `settings()` at use time rather than reading at import, because `chalice.test` sets the
stage's environment variables only during an invoke.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

VERSION = "0.1.0"
LOCAL_STAGE = "local"
CURSOR_SECRET_VARIABLE = "ITINERA_CURSOR_SECRET"
# Deployed stages: the id (ARN) of the Secrets Manager secret holding it (core.secrets).
CURSOR_SECRET_ID_VARIABLE = "ITINERA_CURSOR_SECRET_ID"
# Signs cursors on the local stage only: it is in the source, so it protects nothing elsewhere.
LOCAL_CURSOR_SECRET = "local-cursor-secret"


class ConfigurationError(RuntimeError):
    """The stage's environment lacks something the app cannot run without."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    user_pool_id: str
    user_pool_client_id: str
    # Where the pool's JWKS is served. In AWS it is derived from the issuer; the emulator serves
    # it at its own address while tokens still name the AWS issuer (DESIGN pitfall 10).
    jwks_url: str
    cognito_endpoint: str
    # The local stage confirms sign-ups at once and returns temporary passwords in responses.
    auto_confirm_signups: bool
    sender_email: str
    hold_seconds: int
    max_active_holds: int
    max_units_per_item: int
    payment_provider: str
    # Abuse limits (core.rate_limits): attempts per traveler per fixed one-minute window.
    hold_attempts_per_minute: int
    payment_attempts_per_minute: int
    # Vendor webhooks (notify.webhook_rules.RetrySchedule): retried with exponential backoff
    # from base to max delay, for the window (at least a day in production; tests pass seconds).
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_delay_seconds: float = 3600.0
    webhook_retry_window_seconds: float = 86400.0
    webhook_timeout_seconds: float = 5.0  # one delivery attempt, connect to last byte
    webhook_secret_overlap_seconds: float = 86400.0  # a rotated-out secret keeps signing this long

    @property
    def webhook_allow_private(self) -> bool:
        """Only on the local stage may a webhook go to plain http or a loopback/private address
        (the laptop's own receiver); anywhere else that is a door into the network."""
        return self.stage == LOCAL_STAGE

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def cursor_secret(self) -> str:
        """Read at each use, not held here: settings() is cached for the life of the process,
        while a value from Secrets Manager is cached for core.secrets.MAX_AGE_SECONDS, so a
        rotated secret is picked up."""
        return _cursor_secret(self.stage)


def stage() -> str:
    return os.environ.get("ITINERA_STAGE", LOCAL_STAGE)


def _cursor_secret(current_stage: str) -> str:
    """The key that signs pagination cursors (core.pagination). Only the local stage has a
    default: anywhere else a default would let anyone who reads this file forge cursors."""
    from .secrets import secret_value  # deferred: core.secrets imports this module

    secret = secret_value(CURSOR_SECRET_VARIABLE, CURSOR_SECRET_ID_VARIABLE) or ""
    if current_stage == LOCAL_STAGE:
        return secret or LOCAL_CURSOR_SECRET
    if not secret or secret == LOCAL_CURSOR_SECRET:
        raise ConfigurationError(
            f"No cursor secret for stage {current_stage!r}: set {CURSOR_SECRET_ID_VARIABLE} (the id "
            f"of a Secrets Manager secret; the deployed stacks get one from infra) or, elsewhere, "
            f"{CURSOR_SECRET_VARIABLE} (the value, not the local default). Pagination cursors need "
            f"a secret of their own on every stage but {LOCAL_STAGE!r}.")
    return secret


def table_name(name: str) -> str:
    """Physical table name; models call this at class definition (no AWS call)."""
    return f"itinera-{stage()}-{name}"


def queue_name(name: str) -> str:
    return f"itinera-{stage()}-{name}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    pool_id = os.environ.get("ITINERA_USER_POOL_ID", "")
    cognito_endpoint = os.environ.get("ITINERA_COGNITO_ENDPOINT", "")
    default_jwks = (
        f"{cognito_endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"
        if cognito_endpoint
        else f"https://cognito-idp.{region}.amazonaws.com/{pool_id}/.well-known/jwks.json"
    )
    current = stage()
    # The cursor secret is checked where cursors are signed (Settings.cursor_secret), not here:
    # only the API function signs cursors, so only it is given the secret (least privilege),
    # and the workers build these settings too.
    return Settings(
        stage=current,
        region=region,
        user_pool_id=pool_id,
        user_pool_client_id=os.environ.get("ITINERA_USER_POOL_CLIENT_ID", ""),
        jwks_url=os.environ.get("ITINERA_JWKS_URL") or default_jwks,
        cognito_endpoint=cognito_endpoint,
        auto_confirm_signups=os.environ.get(
            "ITINERA_AUTO_CONFIRM", "true" if current == LOCAL_STAGE else "false") == "true",
        sender_email=os.environ.get("ITINERA_SENDER_EMAIL", "bookings@itinera.example"),
        hold_seconds=_int("ITINERA_HOLD_SECONDS", 900),
        max_active_holds=_int("ITINERA_MAX_ACTIVE_HOLDS", 5),
        max_units_per_item=_int("ITINERA_MAX_UNITS_PER_ITEM", 10),
        payment_provider=os.environ.get("ITINERA_PAYMENT_PROVIDER", "local"),
        # Generous on purpose: a person places a few holds and tries a card or two a minute; 20
        # leaves room for retries after SOLD_OUT or a form error. Payments get 15, above the
        # per-booking cap of 10 attempts (domain.MAX_PAYMENT_ATTEMPTS), so a traveler retrying
        # one booking meets that cap (and its clearer message) first; what 15 stops is card
        # testing across many holds, and it is checked before the provider is called.
        hold_attempts_per_minute=_int("ITINERA_HOLD_ATTEMPTS_PER_MINUTE", 20),
        payment_attempts_per_minute=_int("ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE", 15),
        webhook_retry_base_seconds=_float("ITINERA_WEBHOOK_RETRY_BASE_SECONDS", 5.0),
        webhook_retry_max_delay_seconds=_float("ITINERA_WEBHOOK_RETRY_MAX_DELAY_SECONDS", 3600.0),
        webhook_retry_window_seconds=_float("ITINERA_WEBHOOK_RETRY_WINDOW_SECONDS", 86400.0),
        webhook_timeout_seconds=_float("ITINERA_WEBHOOK_TIMEOUT_SECONDS", 5.0),
        webhook_secret_overlap_seconds=_float("ITINERA_WEBHOOK_SECRET_OVERLAP_SECONDS", 86400.0),
    )
