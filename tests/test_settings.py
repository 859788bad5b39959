"""Settings fail loudly on a bad value instead of guessing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="recsite.settings")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.RECOMMENDER['NEW_USER_THRESHOLD'])",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_embedded_default_needs_no_environment():
    result = load_settings(DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "5"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DEBUG": "0", "ALLOWED_HOSTS": "example.org"},
            "SECRET_KEY must be set (at least 50 characters) when DEBUG=0",
        ),
        ({"DEBUG": "0", "SECRET_KEY": "k" * 60}, "ALLOWED_HOSTS must be set when DEBUG=0"),
        ({"NEW_USER_THRESHOLD": "0"}, "NEW_USER_THRESHOLD must be a positive integer, got 0"),
        (
            {"DRIFT_OVERALL_R2_DROP": "1.5"},
            "DRIFT_OVERALL_R2_DROP must be between 0.0 and 1.0, got 1.5",
        ),
        (
            {"POPULARITY_TRANSFORM": "sqrt"},
            "POPULARITY_TRANSFORM must be one of none, minmax, log; got 'sqrt'",
        ),
    ],
)
def test_a_bad_setting_stops_start_up_and_is_named(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr
