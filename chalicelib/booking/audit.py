"""The audit of a booking (API.md: GET /bookings/{id}/audit, agents and admins): every money
movement and every staff action, append-only.

Money movements are the ledger (written in the same transaction as the booking's totals);
staff actions (an agent's cancel, a refund request) and the refund room aligned with the
payment provider are `AuditEntry` items written in the transaction of the action itself. Nothing here is ever updated or deleted.
"""
from __future__ import annotations

import secrets
from typing import Any

from ..core.auth import Principal
from . import domain
from .models import AuditEntry, LedgerEntry
from .views import money


def staff_actor(viewer: Principal) -> str:
    """Staff as the timeline, the ledger and the audit name them: role and user id."""
    return f"{'agent' if viewer.has_any(('agents',)) else 'admin'}:{viewer.user_id}"


def audit_entry(booking_id: str, actor: str, action: str, now: float, *, amount: int | None = None,
                reason: str | None = None) -> AuditEntry:
    at = domain.stamp(now)
    return AuditEntry(booking_id, f"{at}#{secrets.token_hex(4)}", at=at, actor=actor, action=action,
                      amount=amount, reason=reason)


def booking_audit(viewer: Principal, booking_id: str) -> dict[str, Any]:
    """The ledger and the staff actions of one booking, oldest first (two queries)."""
    from .cancellation import load_for  # cancellation writes audit entries: import here, not above
    booking = load_for(viewer, booking_id)
    entries: list[dict[str, Any]] = []
    for move in LedgerEntry.query(booking_id, consistent_read=True):
        entries.append(_shown(move.at, move.actor, move.kind, int(move.amount), move.reason, booking.currency))
    for action in AuditEntry.query(booking_id, consistent_read=True):
        entries.append(_shown(action.at, action.actor, action.action,
                              None if action.amount is None else int(action.amount), action.reason, booking.currency))
    entries.sort(key=lambda e: e["at"])
    return {"booking_id": booking_id, "entries": entries}


def _shown(at: str, actor: str, action: str, amount: int | None, reason: str | None, currency: str) -> dict[str, Any]:
    shown: dict[str, Any] = {"at": at, "actor": actor, "action": action}
    if amount is not None:
        shown["amount"] = money(amount, currency)
    if reason:
        shown["reason"] = reason
    return shown
