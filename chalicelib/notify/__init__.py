"""Notifications: booking emails (SES)."""
from .email import send_booking_email
from .templates import EVENTS, format_money, render_booking_email

__all__ = ["EVENTS", "format_money", "render_booking_email", "send_booking_email"]
