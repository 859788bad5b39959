"""How trustworthy the monitor -> retrain -> decide loop's judgements are, over many seeds.

Per seed, truth mode (oracle, model) and world (unshifted; Action x 0.95 / 0.9 / 0.8 from
round 3 after two clean rounds), the bundled data's champion (the product's default family and
penalty unless --family / --alpha say otherwise) serves simulated rounds and every round is
judged by both drift rules: "reference" (the default: the champion's own earlier clean rounds,
viewer bootstrap, Holm) and "benchmark" (the original: the training benchmark and
thresholds). Measured:

- false alarms: the share of unshifted rounds (2 to 5, all seeds) where any segment alarmed,
  i.e. the family-wise false-alarm rate per round;
- detection: the share of seeds where a shifted world raised an alarm in round 3 (within 1
  round of the shift) or in round 3 or 4 (within 2);
- decisions: at every alarmed round a challenger of the champion's family is trained as the
  cycle's `retrain` does (the current period is the rounds the rule found degraded: a seeded
  30 % of their ratings held out, the rest marked recent, plus every other rating, to train
  on) and judged against the champion on the holdout (engine.comparison.judge_challenger, as
  the service judges), until one is promoted or sent to review; the share of seeds ending in
  promote / review / reject (every challenger rejected) / no retraining by the last round,
  after which round the promotion came, and, after a promotion, Action films per top-100
  list under the champion and the challenger.

Engine level, no database: the same engine functions the services call (scoring, play_round,
the drift rules, the comparison), with no arrivals and the default settings otherwise. The
champion keeps serving after an alarm (what the rounds would have been had nobody acted), so
every round's verdict counts. Cells run in parallel processes (one BLAS thread each).

Run: .venv/bin/python -m benchmarks.judgements [--seeds 50] [--processes 2] [--family svd]
[--alpha 0.875] (the last two: the original system's model and penalty); the oracle is trained
as SIM_ORACLE_TRAINER says, as the product trains it.
"""

from __future__ import annotations

import argparse
import copy
import logging
import multiprocessing
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmarks.processes import BUNDLED

SHIFT_START = 3
# Unshifted rounds 2..5 test false alarms; shifted worlds play three shifted rounds, so a
# challenger trained after each has one, two and three rounds of the new tastes to learn from.
ROUNDS = {None: 5, 0.95: 5, 0.9: 5, 0.8: 5}
RULES = ("reference", "benchmark")
TRUTHS = ("oracle", "model")
GENRE = "Action"


@dataclass(frozen=True)
class Setup:
    """Which model family the champion and its challengers are, the penalty's alpha and how
    the oracle is trained."""

    family: str
    alpha: float
    oracle_trainer: str


@dataclass
class World:
    """What every cell shares: the original ratings, film genres, the champion (trained on a
    seeded 80 % as `train` does) with its holdout benchmark, and the oracle."""

    setup: Setup
    ratings: pd.DataFrame
    film_genres: pd.DataFrame
    champion: object
    benchmark: dict
    oracle: object
    viewer_ids: np.ndarray


def _train(setup: Setup, ratings: pd.DataFrame, film_genres: pd.DataFrame, seed: int):
    from recommender.engine.families import default_config, family_named

    family = family_named(setup.family)
    return family.train(ratings, default_config(setup.family, seed=seed), film_genres=film_genres)


def build_world(setup: Setup) -> World:
    from recommender.engine.evaluation import evaluate_model
    from recommender.engine.training import split_holdout
    from simulation.engine import train_oracle

    ratings = pd.read_csv(BUNDLED / "ratings.csv").rename(
        columns={"userId": "viewer_id", "movieId": "film_id"}
    )[["viewer_id", "film_id", "rating"]]
    movies = pd.read_csv(BUNDLED / "movies.csv")
    genres = movies.assign(genre=movies["genres"].str.split("|")).explode("genre")
    genres = genres[genres["genre"] != "(no genres listed)"]
    film_genres = genres.rename(columns={"movieId": "film_id"})[["film_id", "genre"]]
    train, holdout = split_holdout(ratings, test_size=0.2, seed=0)
    champion = _train(setup, train, film_genres, seed=0)
    benchmark = evaluate_model(champion, holdout, film_genres=film_genres).to_dict()
    oracle = train_oracle(ratings, setup.oracle_trainer)
    viewer_ids = np.unique(ratings["viewer_id"].to_numpy())
    return World(setup, ratings, film_genres, champion, benchmark, oracle, viewer_ids)


@dataclass
class RuleOutcome:
    """One rule in one cell: the alarm of every judged round (round number -> bool), the
    first alarm, what retraining at the alarms decided (the first promotion or review, else
    reject when every challenger was rejected) and after which round."""

    alarms: dict[int, bool] = field(default_factory=dict)
    first_alarm: int | None = None
    decision: str | None = None
    decided_after: int | None = None
    action_before: float | None = None
    action_after: float | None = None


_WORLD: World | None = None


def _start_worker(setup: Setup) -> None:
    global _WORLD
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    logging.disable(logging.WARNING)  # every alarm logs its segments; the table says enough
    _WORLD = build_world(setup)


def _rank(model, ratings: pd.DataFrame, world: World, n: int = 120):
    from recommender.engine.scoring import PopularityPenalty
    from recommender.engine.serving import rank_every_viewer

    return rank_every_viewer(
        model,
        ratings,
        world.viewer_ids,
        new_user_threshold=5,
        n=n,
        penalty=PopularityPenalty("log", world.setup.alpha),
    )


def _play(world: World, ratings: pd.DataFrame, seed: int, number: int, truth: str, shift):
    from simulation.engine import BehaviourConfig, play_round

    draw = play_round(
        _rank(world.champion, ratings, world),
        behaviour=BehaviourConfig(),
        round_number=number,
        film_genres=world.film_genres,
        rng=np.random.default_rng([seed, number]),
        window=(0, 86_400),
        shift=shift,
        oracle=world.oracle if truth == "oracle" else None,
    )
    return pd.DataFrame(
        {"viewer_id": draw.viewer_ids, "film_id": draw.film_ids, "rating": draw.ratings}
    )


def _verdict(world: World, rule: str, rounds: dict, clean: list[int], number: int, seed: int):
    """The rule's degraded metrics on round `number` (None: nothing could be judged)."""
    from recommender.engine.drift import ChangeTest, model_change
    from recommender.engine.monitoring import DriftThresholds, known_viewer_rows, model_drift

    current = known_viewer_rows(world.champion, rounds[number])
    thresholds = DriftThresholds()
    if rule == "benchmark":
        result = model_drift(
            world.champion,
            world.benchmark,
            current,
            world.film_genres,
            thresholds=thresholds,
            seed=seed + number,
        )
        return result.degraded
    reference_rounds = clean[:3]
    if not reference_rounds:
        return None
    reference = pd.concat([rounds[r] for r in reference_rounds], ignore_index=True)
    result = model_change(
        world.champion,
        reference,
        current,
        world.film_genres,
        thresholds=thresholds,
        test=ChangeTest(),
        seed=seed + number,
    )
    return result.degraded


def _retrain(world: World, rounds: dict, number: int, seed: int, drifted: tuple[int, ...]):
    """The challenger `retrain` would train after round `number`, and its holdout. drifted:
    the rounds the rule found degraded: the current period, which the challenger is judged on
    and its calibration learns (as the service does)."""
    from recommender.engine.training import split_holdout, split_recent_holdout, without_pairs

    cycle_seed = seed + number  # as the cycle seeds retraining
    played = [r for r in sorted(rounds) if r <= number]
    recent = pd.concat([rounds[r] for r in drifted], ignore_index=True)
    holdout = split_recent_holdout(recent, 0.3, np.random.default_rng([cycle_seed, number]))
    everything = pd.concat(
        [world.ratings.assign(recent=False)]
        + [rounds[r].assign(recent=r in drifted) for r in played],
        ignore_index=True,
    )
    training = without_pairs(everything, holdout)
    train, _ = split_holdout(training, test_size=0.2, seed=cycle_seed)
    challenger = _train(world.setup, train, world.film_genres, seed=cycle_seed)
    return challenger, holdout, everything


def _genre_per_list(world: World, model, ratings: pd.DataFrame) -> float:
    ranking = _rank(model, ratings, world, n=100)
    action = set(world.film_genres.loc[world.film_genres["genre"] == GENRE, "film_id"])
    films = ranking.film_ids
    return float(np.isin(films, list(action)).sum() / films.shape[0])


def _decide(world, challenger, holdout, degraded, everything, outcome, seed: int) -> None:
    from recommender.engine.comparison import judge_challenger
    from recommender.engine.monitoring import decide

    comparisons, _ = judge_challenger(
        world.champion,
        challenger,
        holdout,
        world.film_genres,
        degraded=set(degraded),
        tolerance=0.05,
        min_segment_size=100,
        seed=seed,
    )
    outcome.decision = decide(comparisons).value
    if outcome.decision == "promote":
        outcome.action_before = _genre_per_list(world, world.champion, everything)
        outcome.action_after = _genre_per_list(world, challenger, everything)


@dataclass
class Played:
    """A world's history so far: its rounds' ratings, all ratings (original and simulated),
    the reference rule's clean rounds in play order, each rule's outcome, and the challengers
    trained at an alarm (by the round they were trained after)."""

    rounds: dict[int, pd.DataFrame]
    ratings: pd.DataFrame
    clean: list[int]
    outcomes: dict[str, RuleOutcome]
    challengers: dict[int, tuple]

    def branch(self) -> Played:
        return Played(
            dict(self.rounds),
            self.ratings,
            list(self.clean),
            copy.deepcopy(self.outcomes),
            dict(self.challengers),
        )


def _advance(world: World, played: Played, number: int, seed: int, truth: str, shift) -> None:
    """Play round `number`, judge it by both rules, and retrain at every alarm of a rule until
    a challenger is promoted or sent to review (as the cycle does)."""
    played.rounds[number] = _play(world, played.ratings, seed, number, truth, shift)
    played.ratings = pd.concat([played.ratings, played.rounds[number]], ignore_index=True)
    for rule in RULES:
        degraded = _verdict(world, rule, played.rounds, played.clean, number, seed)
        outcome = played.outcomes[rule]
        if degraded is not None:
            outcome.alarms[number] = bool(degraded)
        if rule == "reference" and not degraded:
            played.clean.append(number)
        if degraded and outcome.first_alarm is None:
            outcome.first_alarm = number
        if degraded and outcome.decision in (None, "reject"):
            outcome.decided_after = number
            drifted = tuple(n for n, alarm in outcome.alarms.items() if alarm)
            if (number, drifted) not in played.challengers:
                played.challengers[number, drifted] = _retrain(
                    world, played.rounds, number, seed, drifted
                )
            challenger, holdout, everything = played.challengers[number, drifted]
            _decide(world, challenger, holdout, degraded, everything, outcome, seed + number)


def run_seed(task: tuple[int, str]) -> tuple[tuple, dict]:
    """One seed and truth mode: the unshifted world's first rounds, then each world (unshifted
    and every shift) from the shift's start on. Rounds before the shift are the same draws in
    every world (the round's generator is seeded by seed and round number), so they are played
    and judged once."""
    from simulation.engine import TasteShift

    seed, truth = task
    world = _WORLD
    common = Played({}, world.ratings, [], {rule: RuleOutcome() for rule in RULES}, {})
    for number in range(1, SHIFT_START):
        _advance(world, common, number, seed, truth, None)
    results = {}
    for multiplier, rounds in ROUNDS.items():
        shift = None if multiplier is None else TasteShift({GENRE: multiplier}, SHIFT_START)
        played = common.branch()
        for number in range(SHIFT_START, rounds + 1):
            _advance(world, played, number, seed, truth, shift)
        results[(seed, truth, multiplier)] = played.outcomes
    return task, results


def measure(seeds: int, processes: int, setup: Setup) -> dict:
    from tqdm import tqdm

    tasks = [(s, t) for t in TRUTHS for s in range(seeds)]
    results = {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_start_worker, initargs=(setup,)) as pool:
        for _, cells in tqdm(
            pool.imap_unordered(run_seed, tasks), total=len(tasks), desc="seeds x truth modes"
        ):
            results.update(cells)
    return results


def _share(hits: int, total: int) -> str:
    """hits / total, the share and its exact (Clopper-Pearson) 95 % interval."""
    return f"{hits} / {total} ({_rate(hits, total)})" if total else "-"


def _rate(hits: int, total: int) -> str:
    """The share hits / total and its exact (Clopper-Pearson) 95 % interval."""
    from scipy.stats import binomtest

    interval = binomtest(hits, total).proportion_ci(confidence_level=0.95, method="exact")
    return f"{hits / total:.0%}, {interval.low:.0%}-{interval.high:.0%}"


def _genre_change(promoted: list) -> str:
    """Action films per list before -> after promotion, means over the promoted seeds, and
    the 95 % t interval of the paired change."""
    from scipy import stats

    if not promoted:
        return "-"
    before = np.array([o.action_before for o in promoted])
    after = np.array([o.action_after for o in promoted])
    change = after - before
    text = f"{before.mean():.1f} -> {after.mean():.1f} ({len(promoted)} promotions"
    if len(promoted) < 2 or change.std() == 0:
        return text + ")"
    low, high = stats.t.interval(0.95, len(change) - 1, loc=change.mean(), scale=stats.sem(change))
    return text + f"; change {change.mean():+.2f}, 95 % CI {low:+.2f} to {high:+.2f})"


def summarise(results: dict, seeds: int) -> list[str]:
    lines = [
        "| truth | rule | world | false alarms per round | detected in round 3 "
        "| within 2 rounds | promote / review / reject / no retraining "
        "| promoted after round 3 / 4 / 5 "
        f"| {GENRE} per top-100 list before -> after promotion |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]
    for truth in TRUTHS:
        for rule in RULES:
            for multiplier in ROUNDS:
                lines.append(_row(results, seeds, truth, rule, multiplier))
    return lines


def _row(results: dict, seeds: int, truth: str, rule: str, multiplier) -> str:
    outcomes = [results[(s, truth, multiplier)][rule] for s in range(seeds)]
    world = "unshifted" if multiplier is None else f"{GENRE} x {multiplier}"
    decisions = Counter(o.decision or "none" for o in outcomes)
    tally = " / ".join(str(decisions[d]) for d in ("promote", "human review", "reject", "none"))
    tally += f"; promoted {_rate(decisions['promote'], seeds)}"
    promoted = [o for o in outcomes if o.action_before is not None]
    when = Counter(o.decided_after for o in promoted)
    timing = " / ".join(str(when[n]) for n in range(SHIFT_START, max(ROUNDS.values()) + 1))
    genre = _genre_change(promoted)
    if multiplier is None:
        judged = [a for o in outcomes for n, a in o.alarms.items() if n >= 2]
        alarms, first, second = _share(sum(judged), len(judged)), "-", "-"
    else:
        # Rounds 1-2 of a shifted world replay the unshifted world's draws exactly (same seed).
        alarms = "(as unshifted)"
        first = _share(sum(o.alarms.get(SHIFT_START, False) for o in outcomes), seeds)
        second = _share(
            sum(
                o.alarms.get(SHIFT_START, False) or o.alarms.get(SHIFT_START + 1, False)
                for o in outcomes
            ),
            seeds,
        )
    return (
        f"| {truth} | {rule} | {world} | {alarms} | {first} | {second} | {tally} | {timing} "
        f"| {genre} |"
    )


def product_setup(family: str | None, alpha: float | None) -> Setup:
    """The product's defaults (settings MODEL_FAMILY, POPULARITY_ALPHA and
    SIM_ORACLE_TRAINER, read from the environment as the site reads them) where the command
    line gives none."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
    django.setup()
    from django.conf import settings

    from recommender.engine.families import family_named

    defaults = settings.RECOMMENDER
    if defaults["POPULARITY_TRANSFORM"] != "log":
        raise SystemExit(
            "benchmarks.judgements measures the log penalty; unset POPULARITY_TRANSFORM"
        )
    chosen = family_named(family or defaults["MODEL_FAMILY"]).name
    return Setup(
        chosen,
        defaults["POPULARITY_ALPHA"] if alpha is None else alpha,
        settings.SIMULATION["ORACLE_TRAINER"],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--family", default=None, help="model family (default: the product's)")
    parser.add_argument("--alpha", type=float, default=None, help="penalty alpha (log transform)")
    options = parser.parse_args(argv)
    setup = product_setup(options.family, options.alpha)
    results = measure(options.seeds, options.processes, setup)
    print(
        f"\n### Drift and promotion judgements: {options.seeds} seeds per cell, "
        f"{setup.family} champion, log penalty alpha {setup.alpha}, "
        f"{setup.oracle_trainer} oracle\n"
    )
    print("\n".join(summarise(results, options.seeds)))


if __name__ == "__main__":
    main()
