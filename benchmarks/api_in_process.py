"""The JSON API's request path in one process, without a server: CPU per request when requests
come back to back, and when they come paced as each gunicorn worker sees them under
benchmarks.api's load (one every workers / rate seconds, idle in between).

The difference is what idling costs on this machine, not what the application does: a virtual
CPU woken from idle runs the same code slower for a while (caches, TLB and branch predictors
cold, or the host's scheduling), and the sleep and wake-up are themselves charged to the
process. The same fixed pure-Python work unit, timed back to back and right after a sleep,
shows it without the application.

Run by benchmarks.api after each phase (a separate process: the load generator does not load
Django); by hand:
    .venv/bin/python -m benchmarks.api_in_process DATABASE_URL --token KEY [--pause-ms 10]
It prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

# Alternated passes of each kind, so a drift of the machine's speed during the measurement
# shows as a spread rather than as a difference between the kinds.
PASSES = 2
WARM_UP_REQUESTS = 200
# The work unit of the machine's own figure: about 0.1 ms of pure Python, a request's order.
WORK_UNIT_ADDITIONS = 3_000


def work_unit() -> int:
    total = 0
    for i in range(WORK_UNIT_ADDITIONS):
        total += i
    return total


def machine_idle_cost_us(pause_s: float, repeats: int = 300) -> tuple[float, float]:
    """Wall time of the work unit back to back and right after a sleep of pause_s (µs)."""
    for _ in range(50):
        work_unit()
    timings = []
    for pause in (0.0, pause_s):
        spent = 0.0
        for _ in range(repeats):
            if pause:
                time.sleep(pause)
            started = time.perf_counter()
            work_unit()
            spent += time.perf_counter() - started
        timings.append(1e6 * spent / repeats)
    return timings[0], timings[1]


def request_caller(token: str) -> Callable[[int], None]:
    """One GET of a viewer's recommendations through the project's WSGI application, as
    gunicorn would call it; raises on any answer but 200."""
    from recsite.wsgi import application

    def call(viewer_id: int) -> None:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": f"/api/v1/viewers/{viewer_id}/recommendations/",
            "QUERY_STRING": "n=10",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_ACCEPT": "*/*",
            "HTTP_AUTHORIZATION": f"Token {token}",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
        }
        statuses: list[str] = []
        body = b"".join(application(environ, lambda status, headers, *_: statuses.append(status)))
        if not statuses[0].startswith("200"):
            raise RuntimeError(f"viewer {viewer_id}: {statuses[0]} {body[:200]!r}")

    return call


def cpu_ms_per_request(call, viewer_ids: np.ndarray, pause_s: float) -> float:
    from recommender.services.recommendations import champion_cache

    # Every pass does the same work: no list held from an earlier pass.
    champion_cache.forget_titles()
    started = time.process_time()
    for viewer_id in viewer_ids.tolist():
        if pause_s:
            time.sleep(pause_s)
        call(viewer_id)
    return 1000 * (time.process_time() - started) / len(viewer_ids)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--token", required=True, help="an API token's key")
    parser.add_argument("--pause-ms", type=float, default=10.0, help="idle time before a request")
    parser.add_argument("--requests", type=int, default=500, help="requests per pass")
    parser.add_argument("--seed", type=int, default=3)
    options = parser.parse_args(argv)

    from benchmarks.api import server_environment

    os.environ.update(server_environment(options.database_url))
    import django

    django.setup()
    from recommender.models import Viewer

    pause_s = options.pause_ms / 1000
    call = request_caller(options.token)
    viewers = np.asarray(Viewer.objects.values_list("source_id", flat=True))
    rng = np.random.default_rng(options.seed)
    for viewer_id in rng.choice(viewers, WARM_UP_REQUESTS).tolist():
        call(viewer_id)
    chosen = rng.choice(viewers, options.requests)
    back_to_back, paced = [], []
    for _ in range(PASSES):
        back_to_back.append(cpu_ms_per_request(call, chosen, 0.0))
        paced.append(cpu_ms_per_request(call, chosen, pause_s))
    unit_back_to_back, unit_after_pause = machine_idle_cost_us(pause_s)
    print(
        json.dumps(
            {
                "pause_ms": options.pause_ms,
                "back_to_back_ms": back_to_back,
                "paced_ms": paced,
                "work_unit_us": [unit_back_to_back, unit_after_pause],
            }
        )
    )


if __name__ == "__main__":
    main()
