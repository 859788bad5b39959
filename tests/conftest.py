"""Shared fixtures. Services are real: a test that needs PostgreSQL skips without it, and
fails instead of skipping when REQUIRE_SERVICES=1 (as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgresql(db):
    """Use for tests of PostgreSQL-only behaviour (COPY, locks, constraints under concurrency)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("the test needs PostgreSQL: set DATABASE_URL=postgres://...")
    return connection


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
