"""Serving latency of the JSON API: a real gunicorn (sync workers) on loopback, driven by an
open-loop load generator at a fixed rate over random viewers.

Set-up per database (a fresh SQLite file under var/bench, and a fresh PostgreSQL database when
one is reachable, as the other benchmarks do): import the bundled data, train the default
model, score every viewer, create a reviewer (a permission, not staff, so every request also
looks up the account's permissions) with an API token, and start
`gunicorn recsite.wsgi -w 2` as production would run it: DEBUG=0, persistent database
connections, one BLAS thread per worker, plain HTTP as behind a TLS-terminating proxy. Then two
phases:

1. "stored": every list is read from the served scoring run;
2. "on the fly": after one simulation round every viewer has rated films from their list, so
   each list is recomputed with the champion held in memory.

The load is open-loop: request i is due at start + i / rate whatever happened before, and its
latency runs from that due time to the end of the response, so a slow server cannot slow the
load down and hide its own queueing. Each phase starts with a one-second warm-up at the same
rate (not counted): the first requests of each worker load the model and the film statistics.

Server, database and load generator share the machine's CPUs; the table says how much CPU the
gunicorn workers spent per request and how busy all CPUs were (database included). After each
phase, benchmarks.api_in_process runs the same requests in one process without a server, back
to back and paced as each worker receives them under the load (one every workers / rate
seconds): what the application costs, and what idling between requests adds on this machine.

Run: .venv/bin/python -m benchmarks.api [--rate 200] [--seconds 10] [--workers 2]
     [--backends sqlite postgresql]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import api_in_process
from benchmarks.imports import BENCH_DIR, manage, trained_database
from benchmarks.processes import ROOT
from recommender.management.tables import format_table

TARGET_P99_MS = 20.0
LIST_LENGTH = 10
# Client connections: enough that a burst of slow answers queues in the server, not here.
CONNECTIONS = 32
WARM_UP_SECONDS = 1.0
# Which path answered, read from the body without parsing all of it (the client shares the
# server's CPUs, so it does as little as it can).
COMPUTED = re.compile(rb'"computed":"([a-z_]+)"')

ACCOUNT_SCRIPT = """
import json
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from recommender.models import Viewer
user, _ = User.objects.get_or_create(username="bench-reviewer")
user.user_permissions.add(Permission.objects.get(codename="review_challengers"))
token, _ = Token.objects.get_or_create(user=user)
viewers = list(Viewer.objects.values_list("source_id", flat=True))
print(json.dumps({"token": token.key, "viewers": viewers}))
"""


@dataclass
class LoadResult:
    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    computed: Counter = field(default_factory=Counter)
    finished_at: float = 0.0
    started_at: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    machine_busy: float | None = None  # share of all CPUs busy, every process counted
    # benchmarks.api_in_process on the same database after the load (its JSON line)
    in_process: dict | None = None

    @property
    def server_cpu_ms_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.latencies_ms:
            return None
        return self.server_cpu_s * 1000 / len(self.latencies_ms)

    @property
    def achieved_rate(self) -> float:
        return len(self.latencies_ms) / max(1e-9, self.finished_at - self.started_at)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(database_url: str) -> dict[str, str]:
    """The environment the API is served with (benchmarks.api_in_process runs the same)."""
    return {
        **os.environ,
        # The settings' own connection handling, as the shipped server runs (on PostgreSQL
        # connections are kept between requests).
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "recsite.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback, as behind a TLS-terminating proxy that does the redirect.
        "SECURE_SSL_REDIRECT": "0",
        # One BLAS thread per worker: the per-request products are tiny, and two workers each
        # waking a second BLAS thread on two cores wait on each other (measured: p99 x5).
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


def start_gunicorn(database_url: str, workers: int, port: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "recsite.wsgi",
            # The application (every view, recsite.web_process) loads once in the master, so
            # each worker forks ready: without it, a worker still importing when the load
            # began answered its first requests 140 ms late.
            "--preload",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=server_environment(database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_gunicorn(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown of its own workers
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_until_serving(server: subprocess.Popen, port: int, token: str, log_path) -> None:
    deadline = time.monotonic() + 60
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/champion/", headers=auth(token))
            response = connection.getresponse()
            if response.status == 200:
                return
            last = f"HTTP {response.status} {response.reason}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(
        f"GET /api/v1/champion/ on port {port} did not answer 200 within 60 s (last: {last}); "
        f"see {log_path}"
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def worker_cpu_seconds(server: subprocess.Popen) -> float | None:
    """CPU time (user + system) of the gunicorn workers so far, from /proc (Linux only)."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        total = 0
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat (Linux only)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _send_due_requests(
    port: int, headers: dict, due: queue.Queue, result: LoadResult, lock: threading.Lock
) -> None:
    """One client thread: its own keep-alive connection, requests as the dispatcher releases
    them, latency measured from when each was due (so queueing in the client counts)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while (item := due.get()) is not None:
        due_at, viewer_id = item
        path = f"/api/v1/viewers/{viewer_id}/recommendations/?n={LIST_LENGTH}"
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            done = time.perf_counter()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            with lock:
                result.errors[type(exc).__name__] += 1
            continue
        computed = COMPUTED.search(body)
        with lock:
            result.latencies_ms.append((done - due_at) * 1000)
            result.finished_at = max(result.finished_at, done)
            if status == 200 and computed:
                result.computed[computed.group(1).decode()] += 1
            else:
                result.errors[f"HTTP {status}"] += 1


def _cpu_snapshot(server: subprocess.Popen | None) -> tuple:
    server_cpu = worker_cpu_seconds(server) if server is not None else None
    return server_cpu, resource.getrusage(resource.RUSAGE_SELF), machine_cpu_ticks()


def _record_cpu(result: LoadResult, before: tuple, server: subprocess.Popen | None) -> None:
    """CPU the server workers, this client and the whole machine spent since `before`."""
    server_cpu, client_cpu, machine = before
    used = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu_s = (used.ru_utime + used.ru_stime) - (
        client_cpu.ru_utime + client_cpu.ru_stime
    )
    server_after = worker_cpu_seconds(server) if server is not None else None
    if server_cpu is not None and server_after is not None:
        result.server_cpu_s = server_after - server_cpu
    machine_after = machine_cpu_ticks()
    if machine is not None and machine_after is not None:
        busy, total = (after - before for after, before in zip(machine_after, machine, strict=True))
        result.machine_busy = busy / total if total else None


def prime_workers(*, port: int, token: str, viewer_ids: list[int], workers: int) -> None:
    """Before any timed load: `workers` requests at once, three times over, so that every
    worker has loaded the champion and the film figures (seconds at full size) before the
    open-loop load starts; otherwise the first seconds' requests queue behind those loads."""

    def ask(viewer_id: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        path = f"/api/v1/viewers/{viewer_id}/recommendations/?n={LIST_LENGTH}"
        connection.request("GET", path, headers=auth(token))
        connection.getresponse().read()
        connection.close()

    for batch in range(3):
        threads = [
            threading.Thread(
                target=ask, args=(viewer_ids[(batch * workers + i) % len(viewer_ids)],)
            )
            for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def run_load(
    *,
    port: int,
    token: str,
    viewer_ids: list[int],
    rate: float,
    seconds: float,
    seed: int,
    server: subprocess.Popen | None = None,
) -> LoadResult:
    """Open loop: a dispatcher releases request i at start + i / rate; CONNECTIONS threads,
    each with its own keep-alive connection (reopened when the server closes it, as
    gunicorn's sync workers do after every response), send them and time them."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.asarray(viewer_ids), size=int(rate * seconds))
    due: queue.Queue = queue.Queue()
    result = LoadResult(rate=rate, seconds=seconds)
    lock = threading.Lock()
    threads = [
        threading.Thread(
            target=_send_due_requests, args=(port, auth(token), due, result, lock), daemon=True
        )
        for _ in range(CONNECTIONS)
    ]
    for thread in threads:
        thread.start()
    before = _cpu_snapshot(server)
    start = result.started_at = time.perf_counter()
    for i, viewer_id in enumerate(chosen.tolist()):
        due_at = start + i / rate
        pause = due_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put((due_at, viewer_id))
    for _ in threads:
        due.put(None)
    for thread in threads:
        thread.join()
    _record_cpu(result, before, server)
    return result


def prepare(backend: str) -> tuple[str, str, list[int]] | None:
    url = trained_database(backend, f"recsite_bench_api_{backend}")
    if url is None:
        return None
    manage("score", "--no-progress", database_url=url)
    if backend == "postgresql":
        # Planner statistics, as autovacuum would have gathered them on a live database: just
        # after a bulk load the planner guesses, and hashes the whole film table per request.
        subprocess.run(["psql", url, "-qc", "ANALYZE"], check=True, capture_output=True)
    account = json.loads(
        manage("shell", "-c", ACCOUNT_SCRIPT, database_url=url).strip().splitlines()[-1]
    )
    return url, account["token"], account["viewers"]


def measure_in_process(database_url: str, token: str, options) -> dict:
    pause_ms = 1000 * options.workers / options.rate
    command = [sys.executable, "-m", "benchmarks.api_in_process", database_url, "--token", token]
    done = subprocess.run(
        [*command, "--pause-ms", f"{pause_ms:g}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"benchmarks.api_in_process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(backend: str, options) -> list[tuple]:
    prepared = prepare(backend)
    if prepared is None:
        return []
    url, token, viewer_ids = prepared
    port = free_port()
    log_path = BENCH_DIR / f"api-gunicorn-{backend}.log"
    rows = []
    with open(log_path, "wb") as log:
        server = start_gunicorn(url, options.workers, port, log)
        try:
            wait_until_serving(server, port, token, log_path)
            for phase in ("stored", "on the fly"):
                if phase == "on the fly":
                    # A round stores its ratings after its scoring run: every list is stale.
                    manage(
                        "simulate",
                        "--rounds",
                        "1",
                        "--seed",
                        "1",
                        "--no-progress",
                        database_url=url,
                    )
                load = dict(
                    port=port, token=token, viewer_ids=viewer_ids, rate=options.rate, server=server
                )
                run_load(**load, seconds=WARM_UP_SECONDS, seed=1)
                result = run_load(**load, seconds=options.seconds, seed=2)
                result.in_process = measure_in_process(url, token, options)
                rows.append((backend, phase, options.workers, result))
        finally:
            stop_gunicorn(server)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    options = parser.parse_args(argv)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("ARTIFACT_DIR", str(BENCH_DIR / "models"))

    rows = [row for backend in options.backends for row in measure(backend, options)]
    print(
        f"\n### JSON API: GET viewers/<id>/recommendations/?n={LIST_LENGTH}, random viewers, "
        f"open loop, gunicorn sync workers, token auth, loopback ({os.cpu_count()} CPUs)\n"
    )
    print_table(rows)
    for backend, phase, workers, r in rows:
        met = r.percentile(99) < TARGET_P99_MS and not r.errors and r.achieved_rate >= 0.95 * r.rate
        print(
            f"\ntarget (p99 < {TARGET_P99_MS:.0f} ms at {r.rate:.0f} req/s) on {backend}, lists "
            f"{phase}, {workers} workers: {'met' if met else 'NOT met'}"
            + (f" (errors: {dict(r.errors)})" if r.errors else "")
        )


def print_table(rows: list) -> None:
    table = [
        (
            backend,
            phase,
            str(workers),
            f"{r.rate:.0f}",
            f"{r.achieved_rate:.1f}",
            f"{len(r.latencies_ms):,}",
            f"{r.percentile(50):.1f}",
            f"{r.percentile(99):.1f}",
            f"{max(r.latencies_ms, default=float('nan')):.1f}",
            str(sum(r.errors.values())),
            "n/a" if r.server_cpu_ms_per_request is None else f"{r.server_cpu_ms_per_request:.2f}",
            _spread(r.in_process["back_to_back_ms"]) if r.in_process else "n/a",
            _spread(r.in_process["paced_ms"]) if r.in_process else "n/a",
            f"{100 * r.client_cpu_s / r.seconds:.0f} %",
            "n/a" if r.machine_busy is None else f"{100 * r.machine_busy:.0f} %",
            ", ".join(f"{k} {v:,}" for k, v in sorted(r.computed.items())),
        )
        for backend, phase, workers, r in rows
    ]
    headers = (
        "database",
        "lists",
        "workers",
        "target req/s",
        "achieved req/s",
        "requests",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "server CPU ms/request",
        "in process: back to back",
        "in process: paced",
        "load generator CPU",
        f"all {os.cpu_count()} CPUs busy",
        "answered from",
    )
    print(format_table(headers, table))
    measured = [r.in_process for *_, r in rows if r.in_process]
    if measured:
        pause = measured[0]["pause_ms"]
        before = [m["work_unit_us"][0] for m in measured]
        after = [m["work_unit_us"][1] for m in measured]
        print(
            f"\nIn process: CPU ms per request without a server, no list held from an earlier "
            f"request, back to back and paced (a request every {pause:g} ms, as each worker "
            f"under the load); "
            f"{api_in_process.PASSES} passes each. This machine's cost of idling: "
            f"{api_in_process.WORK_UNIT_ADDITIONS:,} additions in pure Python took "
            f"{_spread(before, 0)} µs back to back and {_spread(after, 0)} µs right after "
            f"a {pause:g} ms sleep."
        )


def _spread(values: list[float], digits: int = 2) -> str:
    """The values' range as printed (1.67-1.71), or one figure when both ends print alike."""
    low, high = (f"{value:.{digits}f}" for value in (min(values), max(values)))
    return low if low == high else f"{low}-{high}"


if __name__ == "__main__":
    main()
