"""Strict reading of settings from the environment: a bad value stops start-up with a message
that names the variable, the value and what is allowed, instead of a bare `int()` traceback or
a silent guess (django-environ reads "maybe" as false and "nan" as a float).

Values come from the process environment, which django-environ's `read_env` fills from an
optional `.env` file first.
"""

from __future__ import annotations

import os
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

# What a number written as text may look like, defined once for the whole product.
from recommender.engine.checks import DECIMAL_TEXT, INTEGER_TEXT, describe_bounds, within

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_BOOLEAN_SPELLINGS = "use 1/true/yes/on or 0/false/no/off"


def _boolean(text: str) -> bool | None:
    """True or False for a spelling of either, None for anything else."""
    lowered = text.lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


class Environment:
    """env.int("NAME", default=..., minimum=...), env.float, env.bool, env.str, env.choice,
    env.model_family, env.list, env.db_url, env.email_url: each returns the default when the variable is unset
    or empty, and raises ImproperlyConfigured naming the variable otherwise."""

    def __init__(self, source: dict[str, str] | None = None) -> None:
        self._source = os.environ if source is None else source

    def _raw(self, name: str) -> str | None:
        value = self._source.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    @staticmethod
    def _refuse(name: str, raw: str, allowed: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{name}={raw!r} is not allowed: {allowed}")

    def str(self, name: str, *, default: str = "") -> str:
        raw = self._raw(name)
        return default if raw is None else raw

    def bool(self, name: str, *, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        value = _boolean(raw)
        if value is None:
            raise self._refuse(name, raw, _BOOLEAN_SPELLINGS)
        return value

    def int(
        self, name: str, *, default: int, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        text = self._raw(name) or str(default)
        if not INTEGER_TEXT.fullmatch(text) or not within(
            int(text), minimum=minimum, maximum=maximum
        ):
            bounds = describe_bounds(minimum=minimum, maximum=maximum)
            raise self._refuse(name, text, f"a whole number{bounds}")
        return int(text)

    def float(
        self,
        name: str,
        *,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float:
        text = self._raw(name) or str(default)
        if not DECIMAL_TEXT.fullmatch(text) or not within(
            float(text), minimum=minimum, maximum=maximum, above=above
        ):
            bounds = describe_bounds(minimum=minimum, maximum=maximum, above=above)
            raise self._refuse(name, text, f"a finite number{bounds}")
        return float(text)

    def choice(self, name: str, *, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default=default)
        if value not in choices:
            raise self._refuse(name, value, f"one of {', '.join(choices)}")
        return value

    def model_family(self, name: str, *, default: str) -> str:
        """A model family's name (recommender.engine.families.FAMILIES); an unknown one is
        refused with the known families listed."""
        from recommender.engine.families import FAMILIES

        value = self.str(name, default=default)
        if value not in FAMILIES:
            raise self._refuse(name, value, f"a model family, one of {', '.join(FAMILIES)}")
        return value

    def list(self, name: str, *, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def db_url(self, name: str, *, default: str) -> dict[str, Any]:
        raw = self._url(
            name,
            default=default,
            kind="a database URL",
            schemes=environ.Env.DB_SCHEMES,
            example="postgres://USER@HOST:5432/NAME or sqlite:////absolute/path.sqlite3",
        )
        config = environ.Env.db_url_config(raw)
        # django-environ passes `?conn_health_checks=false` on as the string "false" (and "0"
        # as the number 0), which Django reads as true.
        health = config.get("CONN_HEALTH_CHECKS")
        if health is not None and not isinstance(health, bool):
            config["CONN_HEALTH_CHECKS"] = _boolean(str(health))
            if config["CONN_HEALTH_CHECKS"] is None:
                raise ImproperlyConfigured(
                    f"{name}: conn_health_checks={health!r} is not allowed: {_BOOLEAN_SPELLINGS}"
                )
        # `?prepare_threshold=N` arrives as the number N; `none` turns preparing off.
        options = config.get("OPTIONS", {})
        if "prepare_threshold" in options:
            threshold = options["prepare_threshold"]
            if not any(engine in config["ENGINE"] for engine in ("postgresql", "postgis")):
                raise ImproperlyConfigured(
                    f"{name}: prepare_threshold is not allowed: PostgreSQL's only"
                )
            if str(threshold).lower() == "none":
                options["prepare_threshold"] = None
            elif isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
                raise ImproperlyConfigured(
                    f"{name}: prepare_threshold={threshold!r} is not allowed: "
                    "a whole number from 0 on, or none"
                )
        return config

    def email_url(self, name: str, *, default: str) -> dict[str, Any]:
        raw = self._url(
            name,
            default=default,
            kind="an email URL",
            schemes=environ.Env.EMAIL_SCHEMES,
            example="consolemail:// or smtp+tls://USER:PASSWORD@HOST:587",
        )
        return environ.Env.email_url_config(raw)

    def _url(self, name: str, *, default: str, kind: str, schemes: dict, example: str) -> str:
        raw = self._raw(name) or default
        scheme = raw.partition("://")[0] if "://" in raw else ""
        if scheme not in schemes:
            # The value may hold a password: name only its scheme.
            shown = f"scheme {scheme!r}" if scheme else "a value with no scheme://"
            raise ImproperlyConfigured(
                f"{name} is not {kind} ({shown}); use e.g. {example} "
                f"(schemes: {', '.join(sorted(schemes))})"
            )
        return raw
