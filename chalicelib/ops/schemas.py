"""Models of the operational routes (their own module: core.lazy builds them on first use)."""
from __future__ import annotations

from ..core.schemas import Output


class Health(Output):
    status: str
    stage: str
    version: str
