"""Import throughput: the real `import_movielens` command into a fresh SQLite file and a fresh
PostgreSQL database, on the bundled data and on a synthetic set of millions of ratings.

Run: .venv/bin/python -m benchmarks.imports [--ratings 2000000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.processes import BUNDLED, ROOT, run_python

BENCH_DIR = ROOT / "var" / "bench"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_SERVER", "postgres://postgres@127.0.0.1:5432")
SUMMARY = re.compile(r"ratings ([\d,]+) \(([\d,]+) new\).*, ([\d.]+) s$")


def manage(*args: str, database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "recsite.settings"}
    return run_python("manage.py", *args, env=env)


def fresh_database(backend: str, name: str) -> str | None:
    if backend == "sqlite":
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = BENCH_DIR / f"{name}.sqlite3"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = f"{POSTGRES_SERVER}/postgres"
    for statement in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        done = subprocess.run(
            ["psql", admin, "-qc", statement], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(
                f"(PostgreSQL not reachable at {POSTGRES_SERVER}: {done.stderr.strip()})",
                file=sys.stderr,
            )
            return None
    return f"{POSTGRES_SERVER}/{name}"


def trained_database(backend: str, name: str) -> str | None:
    """The URL of a fresh database holding the bundled data and a trained champion; None when
    the backend is not reachable."""
    url = fresh_database(backend, name)
    if url is None:
        return None
    manage("migrate", "-v0", database_url=url)
    manage("import_movielens", str(BUNDLED), "--no-progress", database_url=url)
    manage("train", "--no-progress", database_url=url)
    return url


def measure(backend: str, label: str, directory: Path) -> tuple | None:
    url = fresh_database(backend, f"recsite_bench_{backend}")
    if url is None:
        return None
    manage("migrate", "-v0", database_url=url)
    line = (
        manage("import_movielens", str(directory), "--no-progress", database_url=url)
        .strip()
        .splitlines()[-1]
    )
    match = SUMMARY.search(line)
    ratings, seconds = int(match.group(1).replace(",", "")), float(match.group(3))
    again = SUMMARY.search(
        manage("import_movielens", str(directory), "--no-progress", database_url=url)
    )
    return (
        backend,
        label,
        ratings,
        seconds,
        ratings / seconds,
        float(again.group(3)),
        int(again.group(2).replace(",", "")),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratings", type=int, default=2_000_000, help="size of the synthetic set")
    options = parser.parse_args(argv)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    synthetic = BENCH_DIR / f"synthetic-{options.ratings}"
    if not (synthetic / "ratings.csv").is_file():
        manage(
            "generate_synthetic",
            str(synthetic),
            "--viewers",
            str(max(100, options.ratings // 100)),
            "--films",
            str(max(100, options.ratings // 200)),
            "--ratings",
            str(options.ratings),
            "--seed",
            "1",
            database_url="",
        )
    rows = []
    for backend in ("sqlite", "postgresql"):
        for label, directory in (
            ("bundled MovieLens", BUNDLED),
            (f"synthetic {options.ratings:,}", synthetic),
        ):
            result = measure(backend, label, directory)
            if result:
                rows.append(result)
    print("\n### Import throughput (whole command: read, validate, store; fresh database)\n")
    print(
        "| database | data | ratings | seconds | ratings/s | re-import seconds | re-import added |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for backend, label, ratings, seconds, rate, again, added in rows:
        print(
            f"| {backend} | {label} | {ratings:,} | {seconds:.1f} | {rate:,.0f} | {again:.1f} | {added} |"
        )


if __name__ == "__main__":
    main()
