"""What a simulated round measured: one type, written by simulation.services when the round is
played (and once more when the cycle has judged it), read by every page, API answer and
command that shows rounds. SimulationRound.metrics holds its `to_json()`.

The verdict of a round is the first drift report made on it. That is the report the
monitor-and-retrain cycle acted on (the cycle never judges a round twice, and records the
report's id in `cycle.drift_report`); a later `monitor --round` is a re-check that is kept
and listed, but it cannot change what was decided then, so it is not the round's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recommender.engine.evaluation import SegmentScore
from recommender.engine.segments import VIEWER_GROUPS
from recommender.services.cycle import CycleOutcome


@dataclass(frozen=True)
class GroupAccuracy:
    """How well the served model predicted one viewer group's ratings in the round."""

    overall: SegmentScore
    per_genre: dict[str, SegmentScore]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupAccuracy:
        return cls(
            overall=SegmentScore(**data["overall"]),
            per_genre={g: SegmentScore(**s) for g, s in (data.get("per_genre") or {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "per_genre": {g: s.to_dict() for g, s in self.per_genre.items()},
        }


@dataclass(frozen=True)
class ListFigures:
    """The served lists of one viewer group: how many viewers, and coverage, diversity and
    personalisation of their top lists (None where a group has too few viewers or films)."""

    viewers: int
    coverage: float | None = None
    diversity: float | None = None
    personalization: float | None = None
    genre_counts: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ListFigures:
        return cls(
            viewers=int(data.get("viewers", 0)),
            coverage=data.get("coverage"),
            diversity=data.get("diversity"),
            personalization=data.get("personalization"),
            genre_counts=dict(data.get("genre_counts") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        if self.viewers == 0:
            return {"viewers": 0}
        return {
            "viewers": self.viewers,
            "coverage": self.coverage,
            "diversity": self.diversity,
            "personalization": self.personalization,
            "genre_counts": self.genre_counts,
        }


@dataclass(frozen=True)
class RoundMetrics:
    sigma: float | None  # the rating noise the round was played with
    accuracy: dict[str, GroupAccuracy]  # per viewer group present in the round
    lists: dict[str, ListFigures]  # per viewer group
    seconds: float | None  # wall time to play the round
    cycle: CycleOutcome | None = None  # what the monitor-and-retrain cycle did on the round
    # What viewers experienced, per segment ("overall", "genre:NAME"): n consumed films,
    # mean_true_rating, liked_share (rated 4 or more), top_hit_rate (share of top-10 slots
    # consumed and liked); see simulation.engine.round_experience. Empty for older rounds.
    experience: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RoundMetrics:
        data = data or {}
        cycle = data.get("cycle")
        return cls(
            sigma=data.get("sigma"),
            accuracy={
                g: GroupAccuracy.from_json(a) for g, a in (data.get("accuracy") or {}).items()
            },
            lists={g: ListFigures.from_json(x) for g, x in (data.get("lists") or {}).items()},
            seconds=data.get("seconds"),
            cycle=CycleOutcome(**cycle) if cycle else None,
            experience=dict(data.get("experience") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sigma": self.sigma,
            "accuracy": {g: a.to_json() for g, a in self.accuracy.items()},
            "lists": {g: x.to_json() for g, x in self.lists.items()},
            "seconds": self.seconds,
        }
        if self.experience:
            data["experience"] = self.experience
        if self.cycle is not None:
            data["cycle"] = self.cycle.as_dict()
        return data

    def group(self, group: str) -> GroupAccuracy | None:
        if group not in VIEWER_GROUPS:
            raise ValueError(f"group must be one of {VIEWER_GROUPS}, got {group!r}")
        return self.accuracy.get(group)
