"""Helpers of the infra tests: synthesized stacks and throwaway Chalice projects."""
from __future__ import annotations

import json
import os
import socket
import textwrap
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.synth import ROOT

STAGE = "prod"


@dataclass
class Synthesized:
    out: Path
    template: dict[str, Any]
    zip_names: list[str]
    summary: Any

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}


def child_env() -> dict[str, str]:
    """The synthesis decides the stage itself; drop the test stage conftest exported."""
    env = dict(os.environ)
    env.pop("ITINERA_STAGE", None)
    return env


def load(out: Path, summary: Any) -> Synthesized:
    with zipfile.ZipFile(out / "deployment.zip") as package:
        names = package.namelist()
    return Synthesized(out, json.loads((out / "sam.json").read_text()), names, summary)


def index_reachable() -> tuple[bool, str]:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")
    host = urllib.parse.urlparse(index).hostname or "pypi.org"
    try:
        socket.create_connection((host, 443), timeout=5).close()
        return True, host
    except OSError as exc:
        return False, f"{host}: {exc}"


SQS_APP = '''
import os

from chalice import Chalice

app = Chalice(app_name="itinera")
STAGE = os.environ["ITINERA_STAGE"]


@app.route("/health")
def health():
    return {"ok": True}


# Named like app.py's workers: a function infra.permissions does not declare gets no role, and
# the synthesis refuses it.
@app.on_sqs_message(queue=f"itinera-{STAGE}-confirmations", batch_size=5)
def confirm_bookings(event):
    return {"batchItemFailures": []}


@app.on_sqs_message(queue_arn=f"arn:aws:sqs:us-east-1:123456789012:itinera-{STAGE}-cancellations")
def cancel_bookings(event):
    return {"batchItemFailures": []}
'''


def make_project(root: Path, app_source: str) -> Path:
    (root / ".chalice").mkdir(parents=True)
    (root / "app.py").write_text(textwrap.dedent(app_source))
    (root / "requirements.txt").write_text("")  # nothing to download: fast and offline
    (root / ".chalice" / "config.json").write_text((ROOT / ".chalice" / "config.json").read_text())
    return root


