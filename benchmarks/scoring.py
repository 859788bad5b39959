"""Scoring speed and memory, printed as markdown tables of measured figures.

1. The bundled data (671 viewers x 9,066 films): one SVD (default config, seed 0) fitted on
   every rating, then every viewer's top 120 unseen films three ways:
   (a) the original system's approach, one surprise `algo.predict(uid, iid)` per (viewer,
       film) pair and a sort, timed on a sample of viewers and extrapolated to all of them;
   (b) `score_viewers` (float64, no penalty, then with the default log penalty);
   (c) the floor: a bare numpy matrix product and argpartition of the same shape.
2. `--large` (default; `--no-large` for a quick run): 270,000 viewers x 45,000 films, random
   synthetic factors (100 factors), 96 seen films per viewer (26M ratings, The Movies
   Dataset's size), top 120 with the log penalty, in a child process whose peak RSS is read
   with getrusage(RUSAGE_CHILDREN); then coverage, diversity and personalisation of those
   lists, timed.

Run from the repository root: .venv/bin/python -m benchmarks.scoring [--no-large]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks.processes import BUNDLED, run_python

SAMPLE_VIEWERS = 20
N = 120
LARGE_VIEWERS, LARGE_FILMS, LARGE_FACTORS, LARGE_SEEN = 270_000, 45_000, 100, 96
# The floor at large scale is measured on this share of the viewers and scaled up.
LARGE_FLOOR_SHARE = 10


def best_of(times: int, work: Callable[[], object]) -> float:
    """Fastest of `times` runs: the first run also pays for warming BLAS and the caches."""
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def floor(viewer_factors: np.ndarray, film_factors: np.ndarray, n: int) -> np.ndarray:
    """The least any top-n scorer must do: one matrix product and one argpartition."""
    scores = viewer_factors @ film_factors.T
    return np.argpartition(scores, scores.shape[1] - n, axis=1)[:, -n:]


# --- bundled data ---------------------------------------------------------------------------


def bundled_rows() -> list[tuple[str, str, str]]:
    from recommender.engine.model import SVDConfig
    from recommender.engine.scoring import PopularityPenalty, build_seen_matrix, score_viewers
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
    film_counts = ratings.groupby("film_id").size().reindex(model.film_ids, fill_value=0).to_numpy()

    # (a) As the original system did: predict() for every unseen (viewer, film), sort.
    rated = ratings.groupby("viewer_id")["film_id"].agg(set)
    films = [int(f) for f in model.film_ids]
    started = time.perf_counter()
    for viewer in viewers[:SAMPLE_VIEWERS]:
        uid, own = int(viewer), rated[viewer]
        estimates = [(fit.algo.predict(uid, iid).est, iid) for iid in films if iid not in own]
        estimates.sort(reverse=True)
        del estimates[N:]
    original = (time.perf_counter() - started) / SAMPLE_VIEWERS * len(viewers)

    plain = best_of(3, lambda: score_viewers(model, viewers, seen=seen, n=N))
    penalised = best_of(
        3,
        lambda: score_viewers(
            model,
            viewers,
            seen=seen,
            n=N,
            penalty=PopularityPenalty(),
            film_counts=film_counts,
        ),
    )
    bare = best_of(3, lambda: floor(model.viewer_factors, model.film_factors, N))

    shape = f"{len(viewers)} x {model.n_films:,}"
    return [
        (
            f"(a) surprise `predict()` per pair + sort (timed on {SAMPLE_VIEWERS} viewers, "
            f"extrapolated to {len(viewers)})",
            f"{original:.2f} s",
            shape,
        ),
        ("(b) `score_viewers`, float64, no penalty", f"{plain:.4f} s", shape),
        ("(b') `score_viewers`, float64, log penalty", f"{penalised:.4f} s", shape),
        ("(c) floor: bare `P @ Q.T` + `argpartition`", f"{bare:.4f} s", shape),
        ("speed-up (a) / (b)", f"{original / plain:,.0f}x", "target >= 100x"),
        ("ratio (b) / (c)", f"{plain / bare:.2f}x", "target <= 3x"),
    ]


# --- 270k x 45k, in a child process ----------------------------------------------------------


def large_synthetic_model(rng: np.random.Generator):
    """A model of the large size with factors scaled like a trained one, and which films each
    viewer has seen (LARGE_SEEN each) with the resulting rating counts."""
    from scipy import sparse

    from recommender.engine.model import TrainedModel

    v, f, k = LARGE_VIEWERS, LARGE_FILMS, LARGE_FACTORS
    # Factor scale so that p.q has sd ~0.5 and, with the biases, predictions spread over the
    # scale like a trained model's (a few per cent clip at 5.0, giving real ties).
    scale = (0.25 / k) ** 0.25
    model = TrainedModel(
        global_mean=3.5,
        viewer_ids=np.arange(v),
        film_ids=np.arange(f),
        viewer_bias=rng.normal(0, 0.4, v),
        film_bias=rng.normal(0, 0.35, f),
        viewer_factors=rng.normal(0, scale, (v, k)),
        film_factors=rng.normal(0, scale, (f, k)),
    )
    indices = rng.integers(0, f, v * LARGE_SEEN).astype(np.int32)
    seen = sparse.csr_matrix(
        (np.ones(len(indices), dtype=bool), indices, np.arange(0, len(indices) + 1, LARGE_SEEN)),
        shape=(v, f),
    )
    return model, seen, np.bincount(indices, minlength=f)


def run_large_child(dtype_name: str) -> dict[str, float]:
    """The large run itself (called in a fresh interpreter); returns its figures."""
    from recommender.engine.metrics import coverage, diversity, personalization
    from recommender.engine.scoring import PopularityPenalty, score_viewers

    figures: dict[str, float] = {}
    started = time.perf_counter()
    model, seen, counts = large_synthetic_model(np.random.default_rng(0))
    v, f = LARGE_VIEWERS, LARGE_FILMS
    figures["setup_s"] = time.perf_counter() - started
    figures["rss_before_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    started = time.perf_counter()
    ranking = score_viewers(
        model,
        model.viewer_ids,
        seen=seen,
        n=N,
        penalty=PopularityPenalty("log", 0.875),
        film_counts=counts,
        dtype=np.dtype(dtype_name).type,
    )
    figures["score_s"] = time.perf_counter() - started
    figures["rss_after_scoring_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    # The floor on a slice of the viewers, in chunks of the scorer's own size.
    rows = v // LARGE_FLOOR_SHARE
    chunk = max(1, (8 * 2**20) // (f * np.dtype(dtype_name).itemsize))
    p = model.viewer_factors[:rows].astype(dtype_name)
    q = model.film_factors.astype(dtype_name)
    started = time.perf_counter()
    for start in range(0, rows, chunk):
        floor(p[start : start + chunk], q, N)
    figures["floor_s"] = (time.perf_counter() - started) * LARGE_FLOOR_SHARE

    lists = ranking.film_ids  # film ids are 0..f-1, so they are also factor rows
    for name, metric in (
        ("coverage", lambda: coverage(lists, f)),
        ("diversity", lambda: diversity(lists, model.film_factors)),
        ("personalization", lambda: personalization(lists)),
    ):
        started = time.perf_counter()
        figures[f"{name}_value"] = metric()
        figures[f"{name}_s"] = time.perf_counter() - started
    figures["rss_peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return figures


def large_rows(dtype_name: str) -> list[tuple[str, str]]:
    stdout = run_python("-m", "benchmarks.scoring", "--child-large", "--dtype", dtype_name)
    figures = json.loads(stdout.strip().splitlines()[-1])
    # ru_maxrss is in kilobytes on Linux; RUSAGE_CHILDREN reports the largest finished child.
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    ratio = figures["score_s"] / figures["floor_s"]
    return [
        (
            "synthetic model + 26M seen pairs (set-up, not timed below)",
            f"{figures['setup_s']:.1f} s",
        ),
        (f"`score_viewers`, {dtype_name}, log penalty, top {N}", f"{figures['score_s']:.1f} s"),
        (
            f"floor (`P @ Q.T` + `argpartition`, {dtype_name}, same chunks; "
            f"1/{LARGE_FLOOR_SHARE} of the viewers x {LARGE_FLOOR_SHARE})",
            f"{figures['floor_s']:.1f} s",
        ),
        ("ratio scoring / floor", f"{ratio:.2f}x"),
        ("peak RSS of the child process (target < 4 GB)", f"{peak_gb:.2f} GB"),
        (
            "  of which held before scoring (model, seen matrix)",
            f"{figures['rss_before_gb']:.2f} GB",
        ),
        ("  peak by the end of scoring", f"{figures['rss_after_scoring_gb']:.2f} GB"),
        (f"coverage = {figures['coverage_value']:.4f}", f"{figures['coverage_s']:.2f} s"),
        (f"diversity = {figures['diversity_value']:.4f}", f"{figures['diversity_s']:.2f} s"),
        (
            f"personalisation = {figures['personalization_value']:.4f}",
            f"{figures['personalization_s']:.2f} s",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--large",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also score 270,000 x 45,000 (about 2 minutes on 2 cores)",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="compute dtype of the large run (float64 measured 1.4x slower: 110 s vs 80 s)",
    )
    parser.add_argument("--child-large", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child_large:
        print(json.dumps(run_large_child(options.dtype)))
        return

    print(f"\n### Scoring the bundled data ({platform.processor() or platform.machine()})\n")
    print("| approach | time | viewers x films |")
    print("|---|---:|---|")
    for label, value, note in bundled_rows():
        print(f"| {label} | {value} | {note} |")
    if not options.large:
        return
    rows = large_rows(options.dtype)
    print(
        f"\n### {LARGE_VIEWERS:,} viewers x {LARGE_FILMS:,} films, {LARGE_FACTORS} factors, "
        f"{LARGE_SEEN} seen per viewer\n"
    )
    print("| measure | figure |")
    print("|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
