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
    pytest.skip(reason)  # only for a missing service, and only when REQUIRE_SERVICES is unset


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


# Browser tests run with the PostgreSQL pass too (a live server on the in-memory SQLite of the
# other pass would prove less, and Chromium is slow to start twice).
SERVICE_FIXTURES = {"postgresql", "redis_url", "chromium"}


def pytest_collection_modifyitems(config, items):
    """Tests that need a real service carry the `services` marker, so the SQLite pass of CI
    (`make test-sqlite`) can deselect them; they run in the PostgreSQL pass."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture
def artifact_dir(settings, tmp_path):
    """Model artifacts of a test go to its own folder, not the project's var/."""
    settings.RECOMMENDER = {**settings.RECOMMENDER, "ARTIFACT_DIR": tmp_path / "models"}
    return tmp_path / "models"


@pytest.fixture
def bundled_subset(db):
    """The first 120 viewers of the bundled MovieLens data (about 16k ratings): real data, small."""
    from recommender.datasets import RatingFilter
    from recommender.services.imports import dataset_import_movielens

    root = Path(__file__).resolve().parents[1]
    return dataset_import_movielens(
        directory=root / "data" / "ml-latest-small", rating_filter=RatingFilter(max_viewers=120)
    )


@pytest.fixture(autouse=True)
def no_tracking_unless_asked(request):
    """W&B runs cost ~0.6 s each; tests that check tracking turn it on themselves. Without
    pytest-django (engine tests run with `-p no:django`) there is nothing to turn off."""
    try:
        settings = request.getfixturevalue("settings")
    except pytest.FixtureLookupError:
        return
    settings.WANDB = {**settings.WANDB, "MODE": "disabled"}


@pytest.fixture(autouse=True)
def nothing_held_between_tests(request):
    """The recommendations service holds the champion and film statistics per process, keyed
    by ids; test databases reuse ids, so every test that touches the database starts empty
    (the API, the service and the web pages all read through it)."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield  # engine tests run without pytest-django: nothing of Django is loaded
        return
    from recommender.services.recommendations import champion_cache

    champion_cache.clear()
    yield
    champion_cache.clear()


@pytest.fixture
def redis_url():
    """A Redis database of its own for the test's broker traffic (database 15, emptied)."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        skip_or_fail(f"the test needs Redis at {url}")
    yield url
    client.flushdb()


# --- the named users of tests/users.py, one fixture per role ----------------------------------


@pytest.fixture
def plain(db):
    """paul: an account and nothing else."""
    from tests.users import create_plain

    return create_plain()


@pytest.fixture
def viewer(db):
    """vic: an account linked to viewer 1 (tests.users.VIEWER_ID), no review permission."""
    from tests.users import create_viewer_account

    return create_viewer_account()


@pytest.fixture
def staff(db):
    """sam: staff without the review permission (may browse, not decide)."""
    from tests.users import create_staff

    return create_staff()


@pytest.fixture
def reviewer(db):
    """rita: the review permission, not staff (may approve, reject and launch work)."""
    from tests.users import create_reviewer

    return create_reviewer()


@pytest.fixture
def users(plain, viewer, staff, reviewer) -> dict:
    """All five roles by name, as tests.users.ROLES orders them (anonymous is None)."""
    return {
        "anonymous": None,
        "plain": plain,
        "viewer": viewer,
        "staff": staff,
        "reviewer": reviewer,
    }


@pytest.fixture
def original_penalty(settings):
    """The original system's popularity penalty (log, 0.875) for tests that measure R² on the
    films a round served: the product's default (0.02) serves each viewer's best-predicted
    films, a range-restricted population whose R² is low and noisy whatever the shift (issue
    14), while the original penalty spreads the lists over the rating scale as their figures
    assume."""
    settings.RECOMMENDER = {**settings.RECOMMENDER, "POPULARITY_ALPHA": 0.875}
