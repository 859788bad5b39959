"""A test hook: hold long work at a known point until a file disappears (failure tests, and
a page test that must see a task mid-way).

Killing a worker "in the middle of training" needs training to be in the middle when the
test kills it; a sleep would be slow and flaky. With RECOMMENDER_TEST_GATE_FILE unset (always,
outside those tests) this returns at once."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings


def wait_at_test_gate(stage: str) -> None:
    """Wait while the gate file exists, if it is empty or names this stage."""
    gate = settings.RECOMMENDER["TEST_GATE_FILE"]
    if not gate:
        return
    path = Path(gate)
    try:
        wanted = path.read_text().strip()
    except FileNotFoundError:
        return
    if wanted and wanted != stage:
        return
    (path.parent / f"{path.name}.reached").write_text(stage)  # tell the test where we stopped
    while path.exists():
        time.sleep(0.05)
