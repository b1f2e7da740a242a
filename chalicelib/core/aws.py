"""Lazy, shared AWS clients.

Created on first use, never at import (cold start stays lean and tests can point the
environment at the emulator first). Endpoints come from botocore's own configuration:
`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` point every client at the emulator locally.

`share_aws_clients` gives the process one botocore data loader and one DynamoDB client for
every PynamoDB connection; the modules that define PynamoDB models call it, since PynamoDB
otherwise opens a session and a client per model class.
"""
from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_session: Any = None
_lock = threading.Lock()
_loader_lock = threading.Lock()
_dynamodb: dict[tuple[Any, ...], Any] = {}


def share_aws_clients() -> None:
    """One botocore data loader for the process, one DynamoDB client for PynamoDB; idempotent."""
    _share_service_data()
    _share_dynamodb_client()


def _share_service_data() -> None:
    """One botocore data loader for every botocore session of this process.

    Each botocore session's own loader parses the service model and endpoints.json again: a
    second DynamoDB client cost 50-80 ms of CPU here, 5 ms with a shared loader. A loader only
    caches the JSON it reads (clients never change it), so one can serve them all; the test
    suite shares one the same way (tests/conftest.py).
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


def _share_dynamodb_client() -> None:
    """Every PynamoDB connection configured alike uses one DynamoDB client.

    PynamoDB gives each model class (and each TransactWrite connection) a Connection, and each
    Connection its own botocore session and client: a confirmation touching four tables built
    four clients on its cold start, 10-20 ms each even with a shared loader. The shared client
    comes from the process's one session (`client` below uses it too). botocore clients
    are thread-safe, and every connection here is configured alike (no host, region or timeout
    in any Meta), so the first connection's client serves them all. The key holds everything
    PynamoDB builds a client from, so a connection configured differently gets its own. The
    shared client carries the first connection's `before-send` hook, which only adds
    `extra_headers`; no connection here sets them. PynamoDB's own check still replaces a
    client whose credentials came back empty, for that connection.
    """
    from pynamodb.connection.base import Connection

    original = Connection.client
    if getattr(original.fget, "shared", False):
        return

    def client(connection: Any) -> Any:
        if connection._client is None:
            key = (connection.region, connection.host, connection._connect_timeout_seconds,
                   connection._read_timeout_seconds, connection._max_pool_connections,
                   connection._max_retry_attempts_exception, repr(connection._retry_configuration),
                   connection._aws_access_key_id, repr(connection._extra_headers))
            with _lock:
                if key not in _dynamodb:
                    if connection._aws_access_key_id is None:  # else PynamoDB's own, with its keys
                        connection._local.session = _botocore_session()
                    _dynamodb[key] = original.fget(connection)
                connection._client = _dynamodb[key]
        return original.fget(connection)

    client.shared = True  # type: ignore[attr-defined]
    Connection.client = property(client)  # type: ignore[method-assign, assignment]


def _botocore_session() -> Any:
    """The process's one botocore session (call under _lock): building one costs ~10 ms."""
    global _session
    if _session is None:
        import botocore.session  # deferred: part of the Lambda runtime, costly to import

        _share_service_data()
        _session = botocore.session.get_session()
    return _session


def client(service: str) -> Any:
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            from .config import settings
            # botocore's client, the very object boto3's Session.client returns: boto3 only adds
            # resources and S3 transfer methods, which nothing here uses, and importing it (with
            # s3transfer) costs a cold start ~20 ms of CPU. Creating clients under the lock is
            # what lets them share the session (botocore sessions are not thread-safe).
            _clients[service] = _botocore_session().create_client(service, region_name=settings().region)
        return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh emulator). A PynamoDB model keeps the
    client its connection holds until its `_connection` is reset too (DESIGN pitfall 7)."""
    global _session
    with _lock:
        _clients.clear()
        _dynamodb.clear()
        _session = None
