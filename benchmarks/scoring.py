"""Scoring speed. On the bundled data, one fitted SVD scored three ways: (a) the original
system's one surprise predict() per (viewer, film) pair, timed on a sample of viewers and
extrapolated; (b) the vectorised scorer; (c) the floor, a bare numpy matrix product and
argpartition of the same shape. Then 270,000 viewers x 45,000 films from synthetic factors:
wall time and peak memory (child process), and the linear-time list metrics at that size.

Run: .venv/bin/python -m benchmarks.scoring [--no-large]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.imports import BUNDLED, ROOT

SAMPLE_VIEWERS = 20
N = 120


def best_of(times: int, work) -> float:
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def bundled_comparison() -> list[tuple[str, float, str]]:
    from recommender.engine.model import SVDConfig
    from recommender.engine.scoring import build_seen_matrix, score_viewers
    from recommender.engine.training import export_svd, train_surprise_svd

    ratings = pd.read_csv(BUNDLED / "ratings.csv").rename(
        columns={"userId": "viewer_id", "movieId": "film_id"}
    )
    fit = train_surprise_svd(ratings, SVDConfig(seed=0))
    model = export_svd(fit)
    viewers = model.viewer_ids
    seen = build_seen_matrix(
        viewers,
        model.film_ids,
        rated_viewer_ids=ratings["viewer_id"].to_numpy(),
        rated_film_ids=ratings["film_id"].to_numpy(),
    )

    # (a) one predict() per pair, then a sort, as the original system did.
    rated = ratings.groupby("viewer_id")["film_id"].agg(set)
    started = time.perf_counter()
    for viewer in viewers[:SAMPLE_VIEWERS]:
        scores = [
            (fit.algo.predict(int(viewer), int(film)).est, film)
            for film in model.film_ids
            if film not in rated[viewer]
        ]
        scores.sort(reverse=True)
    per_viewer = (time.perf_counter() - started) / SAMPLE_VIEWERS
    original = per_viewer * len(viewers)

    # (b) the vectorised scorer, and (c) the floor: one matrix product and argpartition of the
    # same shape, nothing else. Best of three each, so neither pays for warming up BLAS.
    vectorised = best_of(3, lambda: score_viewers(model, viewers, seen=seen, n=N))
    floor = best_of(
        3, lambda: np.argpartition(-(model.viewer_factors @ model.film_factors.T), N - 1, axis=1)
    )

    shape = f"{len(viewers)} viewers x {model.n_films:,} films"
    return [
        (
            f"(a) surprise predict() per pair, extrapolated from {SAMPLE_VIEWERS} viewers",
            original,
            shape,
        ),
        ("(b) score_viewers (vectorised, chunked, masked, top 120)", vectorised, shape),
        ("(c) floor: bare matrix product + argpartition", floor, shape),
        ("speed-up (a) / (b)", original / vectorised, "target >= 100x"),
        ("ratio (b) / (c)", vectorised / floor, "target <= 3x"),
    ]


LARGE = """
import json, time, numpy as np
from scipy import sparse
from recommender.engine.model import TrainedModel
from recommender.engine.scoring import PopularityPenalty, score_viewers
from recommender.engine.metrics import coverage, diversity, personalization
V, F, K = 270_000, 45_000, 100
rng = np.random.default_rng(0)
model = TrainedModel(global_mean=3.5, viewer_ids=np.arange(V), film_ids=np.arange(F),
    viewer_bias=rng.normal(0, .3, V), film_bias=rng.normal(0, .3, F),
    viewer_factors=rng.normal(0, .1, (V, K)), film_factors=rng.normal(0, .1, (F, K)))
rows = np.repeat(np.arange(V), 96); cols = rng.integers(0, F, len(rows))
seen = sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(V, F)); seen.sum_duplicates()
out = {}
start = time.perf_counter()
ranking = score_viewers(model, model.viewer_ids, seen=seen, n=120, penalty=PopularityPenalty("log", 0.875),
    film_counts=np.bincount(cols, minlength=F), dtype=np.float32)
out["score"] = time.perf_counter() - start
top = ranking.film_ids[:, :100]
for name, metric in (("coverage", lambda: coverage(top, F)), ("personalization", lambda: personalization(top)),
                     ("diversity", lambda: diversity(top, model.film_factors))):
    start = time.perf_counter(); out[name + "_value"] = metric(); out[name] = time.perf_counter() - start
print(json.dumps(out))
"""


def large() -> tuple[dict, float]:
    done = subprocess.run(
        [sys.executable, "-c", LARGE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), resource.getrusage(
        resource.RUSAGE_CHILDREN
    ).ru_maxrss / 1024**2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-large", action="store_true", help="skip the 270k x 45k run")
    options = parser.parse_args(argv)
    print("\n### Scoring the bundled data (same fitted model, top 120 per viewer)\n")
    print("| approach | seconds or ratio | note |")
    print("|---|---:|---|")
    for label, value, note in bundled_comparison():
        print(f"| {label} | {value:,.3f} | {note} |")
    if options.no_large:
        return
    figures, peak_gb = large()
    print(
        "\n### 270,000 viewers x 45,000 films, 100 factors, top 120 (float32, log popularity penalty)\n"
    )
    print("| scoring s | peak memory GB | coverage (s) | personalisation (s) | diversity (s) |")
    print("|---:|---:|---|---|---|")
    print(
        f"| {figures['score']:.1f} | {peak_gb:.2f} "
        f"| {figures['coverage_value']:.3f} ({figures['coverage']:.2f}) "
        f"| {figures['personalization_value']:.4f} ({figures['personalization']:.2f}) "
        f"| {figures['diversity_value']:.4f} ({figures['diversity']:.2f}) |"
    )


if __name__ == "__main__":
    main()
