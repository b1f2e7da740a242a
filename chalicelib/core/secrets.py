"""Secret values: from AWS Secrets Manager on deployed stages, from the environment locally.

Each secret has two variables, e.g. the Stripe API key:

- `ITINERA_STRIPE_API_KEY_SECRET_ID`, when set, holds the secret's id (its ARN), never the
  value; the value is the secret's SecretString (the raw value, not JSON), read at run time
  through Powertools' parameters utility and cached in the process for `MAX_AGE_SECONDS`.
  Deployed stages do this (infra.template names the variables), so no key is in the template,
  in config.json or in the function's environment (where the console shows it).
- otherwise `ITINERA_STRIPE_API_KEY` itself holds the value: the local stack and the tests.

Callers name both variables in full (no suffix rule), so each name can be grepped for and
matched against infra.template's.

Powertools (and boto3 under it) is imported on first use, not at cold start: most requests
never need a secret.
"""
from __future__ import annotations

import os

from .config import ConfigurationError

# How long a read value is reused before Secrets Manager is asked again: a rotated secret is
# picked up within 5 minutes, and a warm function makes one GetSecretValue per secret per
# 5 minutes instead of one per request (each call costs latency and money, and is throttled).
MAX_AGE_SECONDS = 300
# Secrets Manager being busy (HTTP 400 with these codes); 5xx answers are transient too.
_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


class SecretUnavailable(RuntimeError):
    """Secrets Manager is busy or out of reach: nothing was done, the client may retry (a 503)."""

    transient = True  # what core.errors.is_transient looks for


def secret_value(variable: str, id_variable: str) -> str | None:
    """The secret from Secrets Manager when `id_variable` is set, else the value of `variable`;
    None when neither is set, so each caller keeps its own rule for a missing secret.

    Raises ConfigurationError (naming `id_variable`) when the id is set but the secret cannot be
    read for good (missing, deleted, access or KMS key denied, not a SecretString), and
    SecretUnavailable when Secrets Manager is throttling, failing or unreachable.
    """
    secret_id = os.environ.get(id_variable, "")
    if not secret_id:
        return os.environ.get(variable) or None
    from aws_lambda_powertools.utilities import parameters  # deferred: see the module docstring

    try:
        value = parameters.get_secret(secret_id, max_age=MAX_AGE_SECONDS)
    except parameters.GetParameterError as exc:
        # Powertools wraps the SDK's error without `from`: the original is the context.
        raise _failure(id_variable, secret_id, exc.__context__) from exc
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{id_variable} names secret {secret_id!r}, which holds no SecretString "
                                 "value: store the raw value as the secret's string.")
    return value


def _failure(id_variable: str, secret_id: str, cause: BaseException | None) -> Exception:
    """The error to raise for a failed read: transient, or our configuration's fault."""
    from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

    if isinstance(cause, (BotoConnectionError, HTTPClientError)):
        return SecretUnavailable(f"Secrets Manager is unreachable reading {id_variable}: {cause}")
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code", "")
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in _THROTTLED or status >= 500:
            return SecretUnavailable(f"Secrets Manager could not answer for {id_variable} ({code}); retry.")
        # Not found, deleted, access denied, KMS key denied (DecryptionFailure), bad id: retrying
        # will not help, the stage's configuration (or the role's policy) is wrong.
        return ConfigurationError(f"{id_variable} names secret {secret_id!r}, which could not be read "
                                  f"({code}): check the secret exists and the function's role may "
                                  "call secretsmanager:GetSecretValue on it.")
    return ConfigurationError(f"{id_variable}: reading secret {secret_id!r} failed: {cause}")
