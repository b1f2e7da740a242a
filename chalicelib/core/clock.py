"""The service's clock: wall time (UTC seconds), which tests and the fault-injection run can
move forward to make holds lapse without waiting 15 minutes.

Only time the business rules read goes through here (hold expiry, the sweeper's ages,
idempotency records); tokens, leases and the payment provider keep the real clock.
"""
from __future__ import annotations

import time

_offset = 0.0


def now() -> float:
    return time.time() + _offset


def advance(seconds: float) -> None:
    """Move the clock forward (never back: a service clock that goes back would un-expire holds)."""
    global _offset
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    _offset += seconds


def reset() -> None:
    global _offset
    _offset = 0.0
