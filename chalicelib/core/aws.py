"""Lazy, shared AWS clients.

Created on first use, never at import (cold start stays lean and tests can point the
environment at the emulator first). Endpoints come from botocore's own configuration:
`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` point every client at the emulator locally.
"""
from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            import boto3  # deferred: part of the Lambda runtime, costly to import

            from .config import settings
            _clients[service] = boto3.session.Session().client(service, region_name=settings().region)
        return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh emulator)."""
    with _lock:
        _clients.clear()
