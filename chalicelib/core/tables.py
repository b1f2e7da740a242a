"""Table-level checks that do not belong to any one model."""
from __future__ import annotations

from typing import Any

_probe: Any = None


def ping_tables() -> None:
    """DescribeTable on a core table; raises when DynamoDB or the table is unreachable.

    Its own client: one attempt and short timeouts, so /health answers 503 quickly instead of
    hanging on the retries the data path uses.
    """
    global _probe
    if _probe is None:
        import boto3
        from botocore.config import Config

        from .aws import share_aws_clients
        from .config import settings
        share_aws_clients()
        _probe = boto3.session.Session().client(
            "dynamodb", region_name=settings().region,
            config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}))
    from .models import IdempotencyRecord
    _probe.describe_table(TableName=IdempotencyRecord.Meta.table_name)


def transaction() -> Any:
    """A PynamoDB TransactWrite on the models' own connection, so on their one client (core.aws)."""
    from pynamodb.transactions import TransactWrite

    from .models import IdempotencyRecord
    return TransactWrite(connection=IdempotencyRecord._get_connection().connection)


def reset_connections() -> None:
    """Tests: forget the cached probe client."""
    global _probe
    _probe = None
