"""Lazy, shared AWS clients.

Created on first use, never at import (cold start stays lean and tests can point the
environment at the emulator first). Endpoints come from botocore's own configuration:
`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` point every client at the emulator locally.

`share_service_data` gives every botocore session of the process one data loader; the modules
that define PynamoDB models call it, since PynamoDB opens a session per model class.
"""
from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()
_loader_lock = threading.Lock()


def share_service_data() -> None:
    """One botocore data loader for every botocore session of this process; idempotent.

    PynamoDB opens a botocore session per model class (and per thread), `client` one per
    service, and each session's own loader parses the service model and endpoints.json again:
    a second DynamoDB client cost 50-80 ms of CPU here, 5 ms with a shared loader, and a
    confirmation touches four tables. A loader only caches the JSON it reads (clients never
    change it), so one can serve them all; the test suite shares one the same way
    (tests/conftest.py).
    """
    import botocore.session

    create = botocore.session.create_loader
    if getattr(create, "shared", False):
        return
    loaders: dict[Any, Any] = {}

    def shared(search_path_string: Any = None) -> Any:
        with _loader_lock:  # a session asks for its loader lazily, possibly on any thread
            if search_path_string not in loaders:  # AWS_DATA_PATH: one loader per search path
                loaders[search_path_string] = create(search_path_string)
            return loaders[search_path_string]

    shared.shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = shared


def client(service: str) -> Any:
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            import botocore.session  # deferred: part of the Lambda runtime, costly to import

            from .config import settings
            share_service_data()
            # botocore's client, the very object boto3's Session.client returns: boto3 only adds
            # resources and S3 transfer methods, which nothing here uses, and importing it (with
            # s3transfer) costs a cold start ~20 ms of CPU.
            _clients[service] = botocore.session.get_session().create_client(
                service, region_name=settings().region)
        return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh emulator)."""
    with _lock:
        _clients.clear()
