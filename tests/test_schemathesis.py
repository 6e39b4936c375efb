"""Schemathesis over every operation of /schema/openapi.json, against docsort served by uvicorn
over the fake model (worker running): every check, the coverage and fuzzing phases of each
operation, then scenarios along the schema's links. Settings, seed and the one check of our
own: tests/schemathesis.toml and tests/schemathesis_hooks.py.

It runs `st run`, Schemathesis' own runner: its pytest integration does not work with
pytest 9.2 (it reads a node attribute pytest no longer has)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.api import create_app

from .conftest import ROOT
from .live import serving

CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")
# Far more than the run takes: only a hang reaches it.
TIMEOUT_SECONDS = 600


def test_every_operation_keeps_to_the_schema(settings, store, fake_model):
    with serving(create_app(settings, store, fake_model)) as url:
        run = subprocess.run(
            [ST, "--config-file", CONFIG, "--no-color", "run", f"{url}/schema/openapi.json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    assert run.returncode == 0, run.stdout + run.stderr
