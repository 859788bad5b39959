"""How trustworthy the monitor -> retrain -> decide loop's judgements are, over many seeds.

Per seed, truth mode (oracle, model) and world (unshifted; Action x 0.95 / 0.9 / 0.8 from
round 3 after two clean rounds), the bundled data's champion serves simulated rounds and every
round is judged by both drift rules: "reference" (the default: the champion's own earlier
clean rounds, viewer bootstrap, Holm) and "benchmark" (the original: the training benchmark
and thresholds). Measured:

- false alarms: the share of unshifted rounds (2 to 5, all seeds) where any segment alarmed,
  i.e. the family-wise false-alarm rate per round;
- detection: the share of seeds where a shifted world raised an alarm in round 3 (within 1
  round of the shift) or in round 3 or 4 (within 2);
- decisions: at each rule's first alarm a challenger is trained (as `retrain` does: a seeded
  30 % of the simulated ratings held out, the rest plus the original ratings to train on) and
  judged against the champion on the holdout; the share of promote / review / reject, and,
  after a promotion, Action films per top-100 list under the champion and the challenger.

Engine level, no database: the same engine functions the services call (scoring, play_round,
the drift rules, the comparison), with no arrivals and the default settings otherwise. The
champion keeps serving after an alarm (what the rounds would have been had nobody acted), so
every round's verdict counts. Cells run in parallel processes (one BLAS thread each).

Run: .venv/bin/python -m benchmarks.judgements [--seeds 50] [--processes 2]
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
ROUNDS = {None: 5, 0.95: 4, 0.9: 4, 0.8: 4}  # unshifted rounds 2..5 test false alarms
RULES = ("reference", "benchmark")
TRUTHS = ("oracle", "model")
GENRE = "Action"


@dataclass
class World:
    """What every cell shares: the original ratings, film genres, the champion (trained on a
    seeded 80 % as `train` does) with its holdout benchmark, and the oracle."""

    ratings: pd.DataFrame
    film_genres: pd.DataFrame
    champion: object
    benchmark: dict
    oracle: object
    viewer_ids: np.ndarray


def build_world() -> World:
    from recommender.engine.evaluation import evaluate_model
    from recommender.engine.model import SVDConfig
    from recommender.engine.training import fit_svd, split_holdout
    from simulation.engine import ORACLE_CONFIG

    ratings = pd.read_csv(BUNDLED / "ratings.csv").rename(
        columns={"userId": "viewer_id", "movieId": "film_id"}
    )[["viewer_id", "film_id", "rating"]]
    movies = pd.read_csv(BUNDLED / "movies.csv")
    genres = movies.assign(genre=movies["genres"].str.split("|")).explode("genre")
    genres = genres[genres["genre"] != "(no genres listed)"]
    film_genres = genres.rename(columns={"movieId": "film_id"})[["film_id", "genre"]]
    train, holdout = split_holdout(ratings, test_size=0.2, seed=0)
    champion = fit_svd(train, SVDConfig(seed=0))
    benchmark = evaluate_model(champion, holdout, film_genres=film_genres).to_dict()
    oracle = fit_svd(ratings, ORACLE_CONFIG)
    viewer_ids = np.unique(ratings["viewer_id"].to_numpy())
    return World(ratings, film_genres, champion, benchmark, oracle, viewer_ids)


@dataclass
class RuleOutcome:
    """One rule in one cell: the alarm of every judged round (round number -> bool), the
    first alarm, and what retraining at that alarm decided."""

    alarms: dict[int, bool] = field(default_factory=dict)
    first_alarm: int | None = None
    decision: str | None = None
    action_before: float | None = None
    action_after: float | None = None


_WORLD: World | None = None


def _start_worker() -> None:
    global _WORLD
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    logging.disable(logging.WARNING)  # every alarm logs its segments; the table says enough
    _WORLD = build_world()


def _rank(model, ratings: pd.DataFrame, world: World, n: int = 120):
    from recommender.engine.scoring import PopularityPenalty
    from recommender.engine.serving import rank_every_viewer

    return rank_every_viewer(
        model,
        ratings,
        world.viewer_ids,
        new_user_threshold=5,
        n=n,
        penalty=PopularityPenalty("log", 0.875),
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


def _retrain(world: World, rounds: dict, number: int, seed: int):
    """The challenger `retrain` would train after round `number`, and its holdout."""
    from recommender.engine.model import SVDConfig
    from recommender.engine.training import (
        fit_svd,
        split_holdout,
        split_recent_holdout,
        without_pairs,
    )

    cycle_seed = seed + number  # as the cycle seeds retraining
    recent = pd.concat([rounds[r] for r in sorted(rounds) if r <= number], ignore_index=True)
    holdout = split_recent_holdout(recent, 0.3, np.random.default_rng([cycle_seed, number]))
    everything = pd.concat([world.ratings, recent], ignore_index=True)
    training = without_pairs(everything, holdout)
    train, _ = split_holdout(training, test_size=0.2, seed=cycle_seed)
    return fit_svd(train, SVDConfig(seed=cycle_seed)), holdout, everything


def _genre_per_list(world: World, model, ratings: pd.DataFrame) -> float:
    ranking = _rank(model, ratings, world, n=100)
    action = set(world.film_genres.loc[world.film_genres["genre"] == GENRE, "film_id"])
    films = ranking.film_ids
    return float(np.isin(films, list(action)).sum() / films.shape[0])


def _decide(world, challenger, holdout, degraded, everything, outcome, seed: int) -> None:
    from recommender.engine.comparison import paired_on_holdout
    from recommender.engine.monitoring import decide

    comparisons = paired_on_holdout(
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
    """Play round `number`, judge it by both rules, retrain at a rule's first alarm."""
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
            if number not in played.challengers:
                played.challengers[number] = _retrain(world, played.rounds, number, seed)
            challenger, holdout, everything = played.challengers[number]
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


def measure(seeds: int, processes: int) -> dict:
    from tqdm import tqdm

    tasks = [(s, t) for t in TRUTHS for s in range(seeds)]
    results = {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_start_worker) as pool:
        for _, cells in tqdm(
            pool.imap_unordered(run_seed, tasks), total=len(tasks), desc="seeds x truth modes"
        ):
            results.update(cells)
    return results


def _share(hits: int, total: int) -> str:
    return f"{hits} / {total} ({hits / total:.0%})" if total else "-"


def summarise(results: dict, seeds: int) -> list[str]:
    lines = [
        "| truth | rule | world | false alarms per round | detected in round 3 "
        "| within 2 rounds | promote / review / reject / no retraining "
        f"| {GENRE} per top-100 list before -> after promotion |",
        "|---|---|---|---:|---:|---:|---|---|",
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
    promoted = [o for o in outcomes if o.action_before is not None]
    genre = (
        f"{np.mean([o.action_before for o in promoted]):.1f} -> "
        f"{np.mean([o.action_after for o in promoted]):.1f} ({len(promoted)} promotions)"
        if promoted
        else "-"
    )
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
    return f"| {truth} | {rule} | {world} | {alarms} | {first} | {second} | {tally} | {genre} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2)
    options = parser.parse_args(argv)
    results = measure(options.seeds, options.processes)
    print(f"\n### Drift and promotion judgements: {options.seeds} seeds per cell\n")
    print("\n".join(summarise(results, options.seeds)))


if __name__ == "__main__":
    main()
