"""Token authentication whose lookups are held per process: the token's row, its account and
the account's permissions (which recommender.access asks about on every request) are read
once and then answered from memory, instead of three queries per request.

A held lookup is dropped when it is older than TOKEN_HOLD_SECONDS, and at once, in this
process, when a token, an account, its groups or permissions change (signals). Other worker
processes see such a change within TOKEN_HOLD_SECONDS: a revoked token or a withdrawn
permission still works there for at most that long."""

from __future__ import annotations

import threading
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

TOKEN_HOLD_SECONDS = 30.0
# Tokens held per process: one entry per client; older entries are dropped past this.
HELD_TOKENS = 1_000


class _HeldTokens:
    def __init__(self) -> None:
        self._held: dict[str, tuple[float, tuple]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple | None:
        with self._lock:
            held = self._held.get(key)
        if held is None or time.monotonic() - held[0] > TOKEN_HOLD_SECONDS:
            return None
        return held[1]

    def put(self, key: str, credentials: tuple) -> None:
        with self._lock:
            if len(self._held) >= HELD_TOKENS:
                self._held.clear()
            self._held[key] = (time.monotonic(), credentials)

    def clear(self, **_signal) -> None:
        with self._lock:
            self._held.clear()


held_tokens = _HeldTokens()


class HeldTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (same header, same refusals), lookups held per process."""

    def authenticate_credentials(self, key):
        held = held_tokens.get(key)
        if held is not None:
            return held
        user, token = super().authenticate_credentials(key)
        # Read the permissions now: the backend keeps them on the account object, held below.
        user.get_all_permissions()
        held_tokens.put(key, (user, token))
        return user, token


def _connect() -> None:
    User = get_user_model()
    for model in (Token, User, Group):
        post_save.connect(held_tokens.clear, sender=model, dispatch_uid=f"held-tokens-{model}")
        post_delete.connect(held_tokens.clear, sender=model, dispatch_uid=f"held-tokens-d-{model}")
    for through in (User.user_permissions.through, User.groups.through, Group.permissions.through):
        m2m_changed.connect(
            held_tokens.clear, sender=through, dispatch_uid=f"held-tokens-{through}"
        )


_connect()
