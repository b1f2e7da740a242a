"""The embedded AWS: moto in server mode, with DynamoDB made atomic and fast.

    python -m tools.emulator --port 5000

Two things about moto 5.2.5's DynamoDB matter for a booking system, and both are fixed here:

1. Requests run concurrently in server threads, and `TransactWriteItems` checks conditions and
   applies writes item by item with no lock, so two racing transactions can both pass
   `available >= :q` and oversell: a failure the real DynamoDB never shows. Every DynamoDB
   request here runs under one lock, which gives transactions (and single-item conditional
   writes) DynamoDB's isolation. Other services are not locked: SQS long polls must not block.
2. `TransactWriteItems` snapshots every table it touches with `copy.deepcopy` to roll back on
   failure, which costs ~0.5 s per transaction once a table holds 15k items. The replacement
   below snapshots only the items the transaction touches.
3. `Query` walks and sorts every item of the table, on the table and on a GSI alike, so its
   cost grows with the table where DynamoDB's grows with the partition read. Here a query
   starts from the items of its partition: the table's own hash bucket, or a per-index map
   from hash value to items, rebuilt after any write (a generation counter).

Everything else is moto's own server. Tests that need the emulator in server mode use
`EmulatorServer` (a drop-in for moto's ThreadedMotoServer).
"""
from __future__ import annotations

import argparse
import copy
import inspect
import json
import sys
import threading
from typing import Any

from moto.dynamodb.exceptions import (ConditionalCheckFailed, MockValidationException,
                                      MultipleTransactionsException, TooManyTransactionsException,
                                      TransactionCanceledException, TransactWriteSingleOpException)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.models import get_filter_expression as condition_of
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

_DYNAMODB_LOCK = threading.RLock()


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's transact_write_items with per-item rollback instead of whole-table deep copies."""


    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    originals: list[tuple[str, dict[str, Any], Any]] = []  # (table, key, item before or None)
    errors: list[tuple[str | None, str | None, Any]] = []

    def rollback() -> None:
        for table_name, key, before in reversed(originals):
            if before is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])

    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        original_item = None
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            table = self.get_table(table_name)
            key = _item_key(table, op_type, op)
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None and not condition_of(condition, names, values).expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    original_item = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                originals.append((table_name, key, copy.deepcopy(current)))
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition,
                              expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition,
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition, expression_attribute_names=names,
                                 expression_attribute_values=values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), original_item))
        except Exception as exc:  # noqa: BLE001 (reported per item, as moto does)
            errors.append((type(exc).__name__, str(exc), original_item))
    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


SES_MESSAGES_PATH = "/_itinera/ses/messages"


def sent_emails() -> list[dict[str, Any]]:
    """What the emulator's SES "sent": a local mailbox for people and end-to-end tests."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    messages = []
    for region in ("us-east-1",):
        for message in ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages:
            messages.append({"id": message.id, "source": message.source,
                             "destinations": getattr(message, "destinations", None),
                             "subject": getattr(message, "subject", None), "body": getattr(message, "body", None)})
    return messages


# --- Query by partition ------------------------------------------------------------------------

_generation = 0  # bumped by every DynamoDB write request (see SerializedDynamoDB)
_index_maps: dict[tuple[int, str], tuple[int, dict[Any, list[Any]]]] = {}
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
           "CreateTable", "DeleteTable", "UpdateTable", "RestoreTableFromBackup", "ExecuteStatement",
           "BatchExecuteStatement", "ExecuteTransaction", "ImportTable")
_original_query = Table.query
_query_signature = inspect.signature(_original_query)


def _partition(table: Any, hash_key: Any, index_name: str | None,
               hash_conditions: list[tuple[str, Any]] | None) -> list[Any] | None:
    """The candidate items of one partition, or None to let moto look at everything."""
    if index_name is None:
        if hash_key is None:
            return None
        bucket = table.items.get(hash_key)
        if bucket is None:
            return []
        return list(bucket.values()) if table.range_key_attr else [bucket]
    if not hash_conditions or len(hash_conditions) != 1:
        return None
    attribute, value = hash_conditions[0]
    cached = _index_maps.get((id(table), attribute))
    if cached is None or cached[0] != _generation:
        by_value: dict[Any, list[Any]] = {}
        for item in table.all_items():
            key = item.attrs.get(attribute)
            if key is not None:
                by_value.setdefault(key, []).append(item)
        cached = (_generation, by_value)
        _index_maps[(id(table), attribute)] = cached
    return cached[1].get(value, [])


_serving = threading.local()  # set while SerializedDynamoDB runs a request


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    if not getattr(_serving, "active", False):
        # Not a request of this server (e.g. moto's in-process mock in the same test process):
        # its writes do not bump the generation, so the maps could be stale. Use moto's own.
        return _original_query(self, *args, **kwargs)
    bound = _query_signature.bind(self, *args, **kwargs)
    candidates = _partition(self, bound.arguments.get("hash_key"), bound.arguments.get("index_name"),
                            bound.arguments.get("hash_key_conditions"))
    if candidates is None:
        return _original_query(self, *args, **kwargs)
    # moto's query takes its candidates from all_items(); hand it the partition only. Safe
    # because DynamoDB requests run one at a time (SerializedDynamoDB).
    self.all_items = lambda: candidates  # type: ignore[method-assign]
    try:
        return _original_query(self, *args, **kwargs)
    finally:
        del self.all_items


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (see the module docstring), and the
    local mailbox at SES_MESSAGES_PATH."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == SES_MESSAGES_PATH:
            body = json.dumps({"messages": sent_emails()}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            global _generation
            with _DYNAMODB_LOCK:
                if target.rsplit(".", 1)[-1] in _WRITES:
                    _generation += 1
                _serving.active = True
                try:
                    # Materialize the body inside the lock: the work happens while iterating.
                    return list(self.app(environ, start_response))
                finally:
                    _serving.active = False
        return self.app(environ, start_response)


def install() -> None:
    """Patch moto's DynamoDB backend; idempotent."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def make_app() -> Any:
    install()
    return SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))


class EmulatorServer:
    """Drop-in for moto's ThreadedMotoServer, with the fixes above. Port 0 picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        if quiet:  # werkzeug logs every request line; tests and benchmarks do not want them
            import logging
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(host, port, make_app(), threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="emulator")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "EmulatorServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The embedded AWS emulator (moto server).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port, make_app(), threaded=True, request_handler=MotoRequestHandler)
    except OSError as exc:
        sys.exit(f"emulator: cannot listen on {args.host}:{args.port}: {exc.strerror}")
    print(f"emulator: listening on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
