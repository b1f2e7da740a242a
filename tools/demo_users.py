"""The demo accounts `make run` creates (password from ITINERA_DEMO_PASSWORD)."""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PASSWORD = "Itinera-demo-1"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    group: str
    vendor_id: str | None = None
    vendor_name: str | None = None


DEMO_USERS = (
    DemoUser("traveler@example.com", "Tessa Traveler", "travelers"),
    DemoUser("traveler2@example.com", "Theo Traveler", "travelers"),
    DemoUser("vendor@example.com", "Vera Vendor", "vendors", "ven_aurora", "Aurora Travel Co."),
    DemoUser("vendor2@example.com", "Victor Vendor", "vendors", "ven_meridian", "Meridian Journeys"),
    DemoUser("agent@example.com", "Ada Agent", "agents"),
    DemoUser("admin@example.com", "Alan Admin", "admins"),
)
