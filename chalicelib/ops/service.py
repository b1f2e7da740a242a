from __future__ import annotations

from typing import Any

from ..core.config import VERSION, settings
from ..core.observability import logger


def health() -> dict[str, Any]:
    """One DescribeTable on the bookings table, with a short timeout and no retries."""
    from ..core.tables import ping_tables

    s = settings()
    try:
        ping_tables()
        status = "ok"
    except Exception as exc:  # unreachable or missing: report, never raise
        logger.warning("health check failed", extra={"error": type(exc).__name__})
        status = "unavailable"
    return {"status": status, "stage": s.stage, "version": VERSION}
