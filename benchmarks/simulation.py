"""Simulation round time: end to end on the bundled data (score with the champion, choose, rate,
store, metrics) on SQLite and PostgreSQL; and the engine part of one round for 270,000 synthetic
viewers x 45,000 films (scoring, choices, ratings, shift, metrics; no database), with peak memory.

Run: .venv/bin/python -m benchmarks.simulation [--no-large]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from benchmarks.imports import manage, trained_database
from benchmarks.processes import run_python

ROUND_REPORT = (
    "import json; from simulation.models import SimulationRound as R; "
    "print(json.dumps([[r.number, r.interactions, r.arrivals, r.metrics['seconds']] for r in R.objects.order_by('number')]))"
)


def bundled_rounds(backend: str) -> list[tuple] | None:
    url = trained_database(backend, f"recsite_bench_sim_{backend}")
    if url is None:
        return None
    manage("simulate", "--rounds", "3", "--shift", "Action=0.9", "--no-progress", database_url=url)
    # The last line: Django 5.2's shell may first say what it imported automatically.
    rounds = json.loads(
        manage("shell", "-c", ROUND_REPORT, database_url=url).strip().splitlines()[-1]
    )
    return [(backend, *r) for r in rounds]


LARGE_ROUND = """
import time, numpy as np
from recommender.engine.model import TrainedModel
from recommender.engine.scoring import PopularityPenalty, score_viewers
from recommender.engine.evaluation import segment_scores
from recommender.engine.metrics import coverage, personalization, diversity
from simulation.engine import TasteShift, apply_taste_shift, choose_films, draw_interaction_counts, draw_ratings
from scipy import sparse
V, F, K = 270_000, 45_000, 100
rng = np.random.default_rng(0)
model = TrainedModel(global_mean=3.5, viewer_ids=np.arange(V), film_ids=np.arange(F),
    viewer_bias=rng.normal(0, .3, V), film_bias=rng.normal(0, .3, F),
    viewer_factors=rng.normal(0, .1, (V, K)), film_factors=rng.normal(0, .1, (F, K)))
genres = rng.random((F, 19)) < 0.12
# ~96 ratings per viewer already seen (26M / 270k), never recommended again.
rows = np.repeat(np.arange(V), 96); cols = rng.integers(0, F, len(rows))
seen = sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(V, F)); seen.sum_duplicates()
counts = np.bincount(cols, minlength=F)
t = {}; start = time.perf_counter()
ranking = score_viewers(model, model.viewer_ids, seen=seen, n=120, penalty=PopularityPenalty("log", 0.875),
    film_counts=counts, dtype=np.float32)
t["score"] = time.perf_counter() - start; s = time.perf_counter()
choices = choose_films(ranking.film_ids, draw_interaction_counts(V, 20, rng), 0.1, rng)
predicted = ranking.predicted[choices.row, choices.rank].astype(np.float64)
membership = genres[choices.film]
true = apply_taste_shift(predicted, membership, [f"g{i}" for i in range(19)], TasteShift({"g0": 0.9}))
ratings = draw_ratings(true, 0.545, rng)
t["choose+rate"] = time.perf_counter() - s; s = time.perf_counter()
segment_scores(ratings, predicted, membership, [f"g{i}" for i in range(19)], min_segment_size=100)
top = ranking.film_ids[:, :100]
coverage(top, F); personalization(top); diversity(top, model.film_factors)
t["metrics"] = time.perf_counter() - s
t["total"] = time.perf_counter() - start
t["ratings"] = len(ratings)
print(t)
"""


def large_round() -> tuple[dict, float]:
    stdout = run_python("-c", LARGE_ROUND)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    # The child prints one dict literal of numbers: parse it without eval.
    figures = json.loads(stdout.strip().replace("'", '"'))
    return figures, peak_gb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-large", action="store_true", help="skip the 270k-viewer round")
    options = parser.parse_args(argv)
    rows = []
    for backend in ("sqlite", "postgresql"):
        rows += bundled_rounds(backend) or []
    print("\n### One simulation round on the bundled data (end to end, including storage)\n")
    print("| database | round | ratings stored | arrivals | seconds |")
    print("|---|---:|---:|---:|---:|")
    for backend, number, interactions, arrivals, seconds in rows:
        print(f"| {backend} | {number} | {interactions:,} | {arrivals} | {seconds:.2f} |")
    if options.no_large:
        return
    started = time.perf_counter()
    figures, peak_gb = large_round()
    print("\n### One round, 270,000 viewers x 45,000 films (engine only: no database)\n")
    print(
        "| scoring s | choose + rate s | metrics s | total s | ratings drawn | peak memory GB | wall s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {figures['score']:.1f} | {figures['choose+rate']:.1f} | {figures['metrics']:.1f} | {figures['total']:.1f} "
        f"| {figures['ratings']:,} | {peak_gb:.2f} | {time.perf_counter() - started:.1f} |"
    )


if __name__ == "__main__":
    main()
