"""The web app counts each currency's minor units exactly as the service does: a price typed in
the browser must become the amount the API stores and its emails print."""
from __future__ import annotations

import re
from pathlib import Path

from chalicelib.notify.templates import _EXPONENTS

UI = Path(__file__).resolve().parents[2] / "web" / "src" / "ui.js"


def test_the_web_app_and_the_service_agree_on_every_currency_exponent():
    source = UI.read_text()
    table = source[source.index("const CURRENCY_EXPONENTS = {"):]
    table = table[:table.index("};")]
    web = {code: int(digits) for code, digits in re.findall(r"([A-Z]{3}): (\d)", table)}
    assert web == _EXPONENTS
    assert "?? 2" in source  # every other currency has two decimals, as in the service
