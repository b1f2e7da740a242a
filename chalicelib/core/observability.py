"""Observability singletons: one Logger and one Metrics for the whole service.

Powertools reads POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE from the environment;
the defaults here keep local runs and tests quiet and consistent.
"""
from __future__ import annotations

import os
import re

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "itinera")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Itinera"), service=SERVICE)

_EMAIL = re.compile(r"^(.)[^@]*(@.*)$")


def mask_email(email: str | None) -> str | None:
    """Logs carry who, not their full address: j***@example.com."""
    if not email:
        return email
    return _EMAIL.sub(r"\1***\2", email)


def count(name: str, value: int = 1) -> None:
    """A business counter (EMF), flushed by the metrics middleware at the end of the invoke."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
