"""Settings fail loudly on a bad value instead of guessing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


SHOWN = (
    "from django.conf import settings; "
    "print(settings.DATABASES['default']['ENGINE'], settings.RECOMMENDER['NEW_USER_THRESHOLD'])"
)


def load_settings(code: str = SHOWN, **env: str) -> subprocess.CompletedProcess:
    """Run `code` (by default: print the database engine and NEW_USER_THRESHOLD) in a fresh
    process whose environment is this one's with `env` and without DEBUG, SECRET_KEY and
    ALLOWED_HOSTS."""
    environment = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="recsite.settings")
    return subprocess.run(
        [sys.executable, "-c", code],
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
        ({"NEW_USER_THRESHOLD": "0"}, "NEW_USER_THRESHOLD='0' is not allowed: a whole number >= 1"),
        (
            {"MODEL_FAMILY": "knn"},
            "MODEL_FAMILY='knn' is not allowed: a model family, one of svd, als, bpr, genre-als",
        ),
        (
            {"NEW_USER_THRESHOLD": "abc"},
            "NEW_USER_THRESHOLD='abc' is not allowed: a whole number >= 1",
        ),
        (
            {"DRIFT_OVERALL_R2_DROP": "1.5"},
            "DRIFT_OVERALL_R2_DROP='1.5' is not allowed: a finite number >= 0.0 and <= 1.0",
        ),
        (
            {"DRIFT_OVERALL_R2_DROP": "nan"},
            "DRIFT_OVERALL_R2_DROP='nan' is not allowed: a finite number >= 0.0 and <= 1.0",
        ),
        (
            {"POPULARITY_ALPHA": "inf"},
            "POPULARITY_ALPHA='inf' is not allowed: a finite number >= 0.0 and <= 100.0",
        ),
        (
            {"SIM_CHOICE_DECAY": "1_0"},
            "SIM_CHOICE_DECAY='1_0' is not allowed: a finite number >= 0.0 and <= 10.0",
        ),
        (
            {"POPULARITY_TRANSFORM": "sqrt"},
            "POPULARITY_TRANSFORM='sqrt' is not allowed: one of none, minmax, log",
        ),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not allowed: use 1/true/yes/on or 0/false/no/off"),
        (
            {"DATABASE_URL": "garbage"},
            "DATABASE_URL is not a database URL (a value with no scheme://)",
        ),
        (
            {"AXES_COOLOFF_MINUTES": "-5"},
            "AXES_COOLOFF_MINUTES='-5' is not allowed: a finite number > 0 and <= 10080",
        ),
        (
            {"AXES_FAILURE_LIMIT": "0"},
            "AXES_FAILURE_LIMIT='0' is not allowed: a whole number >= 1 and <= 1000",
        ),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not allowed: one of DEBUG, INFO, WARNING"),
        (
            {"KEEP_SCORING_RUNS": "-1"},
            "KEEP_SCORING_RUNS='-1' is not allowed: a whole number >= 0 and <= 1000",
        ),
        (
            {"BULK_FLUSH_AFTER_KB": "4096"},
            "BULK_FLUSH_AFTER_KB='4096' is not allowed: a whole number >= 0 and <= 2048",
        ),
    ],
)
def test_a_bad_setting_stops_start_up_and_is_named(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_database_url_with_an_unknown_scheme_is_named_without_its_password():
    result = load_settings(DATABASE_URL="mysqlx://admin:hunter2@db.example.org/films")

    assert result.returncode != 0
    assert "DATABASE_URL is not a database URL (scheme 'mysqlx')" in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"DEBUG": "off", "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "a.org"}, "sqlite3 5")],
)
def test_spelled_out_values_are_read(env, expected, tmp_path):
    result = load_settings(
        **env, STATIC_ROOT=str(tmp_path), NEW_USER_THRESHOLD="+5", DATABASE_URL=""
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0].endswith(expected.split()[0])
    assert result.stdout.split()[1] == "5"


@pytest.mark.parametrize(
    ("query", "expected"),
    [("?conn_health_checks=false", False), ("?conn_health_checks=Off", False),
     ("?conn_health_checks=true", True), ("?conn_health_checks=1", True), ("", None)],
)  # fmt: skip
def test_a_database_urls_health_check_switch_is_read_as_a_boolean(query, expected):
    from recsite.environment import Environment

    url = f"postgres://films@127.0.0.1:5432/films{query}"
    config = Environment({"DATABASE_URL": url}).db_url("DATABASE_URL", default="")

    # The string "false" would be truthy to Django: it must arrive as False.
    assert config.get("CONN_HEALTH_CHECKS") is expected


def test_a_database_urls_unreadable_health_check_switch_is_named():
    from django.core.exceptions import ImproperlyConfigured

    from recsite.environment import Environment

    url = "postgres://films@127.0.0.1:5432/films?conn_health_checks=maybe"
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL: conn_health_checks='maybe'"):
        Environment({"DATABASE_URL": url}).db_url("DATABASE_URL", default="")


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", "5"), ("?prepare_threshold=0", "0"), ("?prepare_threshold=none", "None"),
     ("?prepare_threshold=None", "None")],
)  # fmt: skip
def test_postgresql_statements_are_prepared_after_five_runs_unless_the_url_says_otherwise(
    query, expected
):
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    result = load_settings(code, DATABASE_URL=f"postgres://films@127.0.0.1:5432/films{query}")
    assert result.returncode == 0, result.stderr
    assert f"'prepare_threshold': {expected}" in result.stdout


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://films@127.0.0.1/films?prepare_threshold=soon", "prepare_threshold='soon'"),
        ("postgres://films@127.0.0.1/films?prepare_threshold=-1", "prepare_threshold='-1'"),
        (
            "sqlite:////tmp/films.sqlite3?prepare_threshold=5",
            "prepare_threshold is not allowed: PostgreSQL's only",
        ),
    ],
)
def test_an_unusable_prepare_threshold_is_named(url, message):
    from django.core.exceptions import ImproperlyConfigured

    from recsite.environment import Environment

    with pytest.raises(ImproperlyConfigured, match=f"DATABASE_URL: {message}"):
        Environment({"DATABASE_URL": url}).db_url("DATABASE_URL", default="")


def test_postgresql_connections_are_kept_and_checked_unless_the_url_says_otherwise():
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    url = "postgres://films@127.0.0.1:5432/films"
    shown = {}
    for query in ("", "?conn_max_age=0&conn_health_checks=false"):
        result = load_settings(code, DATABASE_URL=url + query)
        assert result.returncode == 0, result.stderr
        shown[query] = result.stdout.split()
    assert shown[""] == ["600", "True"]
    assert shown["?conn_max_age=0&conn_health_checks=false"] == ["0", "False"]


# Two requests through the WSGI application, as a server makes them (Django's test client
# turns off the request signals that close connections): an unknown token is looked up in
# the database, then refused. Prints whether the second request reused the first's SQLite
# connection, and whether a connection was still open after the last.
SQLITE_REUSE = """
import io, sys, django
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", "authtoken", verbosity=0)
connection.close()
from recsite.wsgi import application
def get():
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/champion/", "SERVER_NAME": "x",
               "SERVER_PORT": "80", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
               "HTTP_AUTHORIZATION": "Token unknown", "wsgi.input": io.BytesIO(),
               "wsgi.errors": sys.stderr}
    answer = application(environ, lambda status, headers: None)
    answer.close()
    return connection.connection
first = get()
second = get()
print(first is not None and first is second, second is not None)
"""


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", ["True", "True"]), ("?conn_max_age=0", ["False", "False"])],
)
def test_sqlite_connections_are_kept_between_requests_unless_the_url_says_otherwise(
    query, expected, tmp_path
):
    result = load_settings(
        SQLITE_REUSE,
        DATABASE_URL=f"sqlite:///{tmp_path / 'films.sqlite3'}{query}",
        DEBUG="0",
        SECRET_KEY="k" * 60,
        ALLOWED_HOSTS="localhost",
        SECURE_SSL_REDIRECT="0",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected
