"""Notifications: booking emails (SES).

The names below load on first use (PEP 562): app.py imports notify.routes, hence this package,
at every cold start, and only the workers that send emails need the templates (html and all).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .email import send_booking_email
    from .templates import EVENTS, format_money, render_booking_email

__all__ = ["EVENTS", "format_money", "render_booking_email", "send_booking_email"]
_SOURCES = {"EVENTS": ".templates", "format_money": ".templates", "render_booking_email": ".templates",
            "send_booking_email": ".email"}


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value
