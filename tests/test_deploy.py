"""The production configuration checked without a Docker engine: `check --deploy` is clean,
and docker-compose.yml / .env.example cannot silently rot away from the code."""

import ast
import os
import re
import shlex
import subprocess
import sys
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = ("migrate", "web", "worker", "beat")


def settings_read_from_environment() -> set[str]:
    """Every variable recsite/settings.py reads: the first argument of its env.*(...) calls."""
    tree = ast.parse((ROOT / "recsite" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
        ):
            continue
        function = node.func
        reads_env = (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id == "env"
        )
        if reads_env and isinstance(node.args[0].value, str):
            names.add(node.args[0].value)
    return names


def production_environment(**extra: str) -> dict[str, str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "SESSION_", "CSRF_", "DEBUG", "DJANGO_ALLOW_ASYNC"))
    }
    environment.update(
        DEBUG="0",
        SECRET_KEY="x7Qp2-not-a-real-key-but-long-and-random-enough-9f3kLm0zR8vW1yT4uB6nC",
        ALLOWED_HOSTS="recs.example.org",
        DATABASE_URL="",
        DJANGO_SETTINGS_MODULE="recsite.settings",
        **extra,
    )
    return environment


# Django's deploy checks, failing on warnings too.
STRICT_DEPLOY_CHECK = ("check", "--deploy", "--fail-level", "WARNING")


def manage_in_production(*args: str, **environment: str) -> subprocess.CompletedProcess:
    """manage.py ARGS with the production settings (and `environment`): exit code and output."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_environment(**environment),
        capture_output=True,
        text=True,
        timeout=120,
    )


def collect_static(static_root: Path) -> None:
    result = manage_in_production("collectstatic", "--noinput", "-v0", STATIC_ROOT=str(static_root))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_when_debug_is_off_and_static_files_were_never_collected(tmp_path):
    """Every HTML page would answer 500 while Django's own deploy checks stay clean."""
    result = manage_in_production("check", "--deploy", STATIC_ROOT=str(tmp_path / "static"))
    assert result.returncode != 0
    assert "recommender.E001" in result.stderr
    assert "collectstatic" in result.stderr


def test_check_deploy_is_clean_with_production_values(tmp_path):
    collect_static(tmp_path / "static")
    result = manage_in_production(*STRICT_DEPLOY_CHECK, STATIC_ROOT=str(tmp_path / "static"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_tls_settings_are_switched_off(tmp_path):
    """The clean result above means something: switching HTTPS off is reported."""
    collect_static(tmp_path / "static")
    result = manage_in_production(
        *STRICT_DEPLOY_CHECK,
        STATIC_ROOT=str(tmp_path / "static"),
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_compose_command_refers_to_something_that_exists(name):
    from django.core.management import get_commands

    command = command_of(COMPOSE["services"][name])
    program = command[0]
    if program == "gunicorn":
        module = command[1].split(":")[0]
        assert hasattr(import_module(module), "application"), f"{module} has no WSGI application"
    elif program == "celery":
        app_name = command[command.index("-A") + 1]
        app = import_module(f"{app_name}.celery").app
        assert command[command.index("-A") + 2] in {"worker", "beat"}
        assert app.main == app_name
    elif program == "python":
        assert command[1] == "manage.py" and (ROOT / "manage.py").is_file()
        assert command[2] in get_commands(), f"no management command {command[2]!r}"
    else:
        pytest.fail(f"{name}: unexpected program {program!r}")


def test_every_variable_compose_sets_is_read_by_the_settings():
    read = settings_read_from_environment()
    app = COMPOSE["x-app"]
    for name in APP_SERVICES:
        service = COMPOSE["services"][name]
        environment = {**app["environment"], **service.get("environment", {})}
        unknown = sorted(set(environment) - read)
        assert not unknown, f"{name} sets variables the settings never read: {unknown}"


def test_the_services_start_in_order_and_are_health_checked():
    services = COMPOSE["services"]
    assert {"db", "redis", "migrate", "web", "worker", "beat", "flower"} <= set(services)
    for infrastructure in ("db", "redis"):
        assert services[infrastructure]["healthcheck"]["test"]
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["flower"]["profiles"] == ["monitoring"]
    assert "postgres:16" in services["db"]["image"]
    assert any(v.startswith("pgdata:") for v in services["db"]["volumes"])


def test_env_example_lists_every_setting_and_nothing_else():
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    read = settings_read_from_environment()
    assert listed == read, f"missing: {sorted(read - listed)}; unknown: {sorted(listed - read)}"


def test_the_dockerfile_installs_from_pyproject_and_runs_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "COPY pyproject.toml" in dockerfile and "pip install ." in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    for copied in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (ROOT / copied).exists(), f"Dockerfile copies {copied}, which does not exist"
    assert find_spec("gunicorn") and find_spec("whitenoise")
