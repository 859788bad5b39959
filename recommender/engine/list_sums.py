"""The sums a scoring run's list metrics are ratios of, per viewer group, so lists ranked in
parts (the shards of a sharded run) give the run's metrics by adding their parts' sums:

- coverage and genre counts: how many lists hold each catalogue film;
- personalisation: the sum of the lists' unit binary vectors and how many lists have films
  (engine.metrics.unit_vector_sum);
- diversity: the sum of the per-list diversities and how many lists have two films or more.

A part's sums take a few arrays of the catalogue's length whatever its number of lists, so
whoever adds them up never holds every list at once. Pure numpy / pandas."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from recommender.engine.metrics import (
    as_sets,
    build_genre_matrix,
    genre_counts_of_sums,
    list_diversities,
    personalization_of_sums,
    unit_vector_sum,
)
from recommender.engine.model import TrainedModel

# Rows per block when mapping lists to positions: the temporaries of a block stay small
# (computed whole at 270k x 100, they took 0.5-0.7 GB beside the 216 MB result).
_POSITION_BLOCK_ROWS = 16_384
# The groups whose sums are kept: "all" is their sum.
_PARTS = ("existing", "new")
_SCALARS = ("viewers", "lists_with_films", "diversity_sum", "diversity_lists")
_ARRAYS = ("times_listed", "unit_vector_sum")


@dataclass(frozen=True)
class GroupSums:
    """One viewer group's sums over its lists, each list's top films taken as a set.
    times_listed and unit_vector_sum are indexed by catalogue position."""

    viewers: int
    times_listed: np.ndarray
    unit_vector_sum: np.ndarray
    lists_with_films: int
    diversity_sum: float
    diversity_lists: int

    @classmethod
    def empty(cls, catalogue_size: int) -> GroupSums:
        zeros = np.zeros(catalogue_size)
        return cls(0, zeros, zeros, 0, 0.0, 0)

    @classmethod
    def of(
        cls, positions: np.ndarray, factor_rows: np.ndarray, model: TrainedModel, size: int
    ) -> GroupSums:
        """Sums of lists given as catalogue positions and as rows of the model's film factors
        (both -1 padded, same shape)."""
        if len(positions) == 0:
            return cls.empty(size)
        sets = as_sets(positions)
        summed, with_films = unit_vector_sum(sets, size)
        per_list = list_diversities(factor_rows, model.film_factors)
        return cls(
            viewers=len(positions),
            times_listed=np.bincount(sets[sets >= 0], minlength=size).astype(np.float64),
            unit_vector_sum=summed,
            lists_with_films=with_films,
            diversity_sum=float(np.sum(per_list)),
            diversity_lists=len(per_list),
        )

    def __add__(self, other: GroupSums) -> GroupSums:
        return GroupSums(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def metrics(self, membership: np.ndarray, genre_names: list[str]) -> dict:
        """Coverage, diversity, personalisation and mean genre counts per list (None where a
        figure is undefined: no list with two films, fewer than two lists with films)."""
        if self.viewers == 0:
            return {"viewers": 0}
        return {
            "viewers": self.viewers,
            "coverage": np.count_nonzero(self.times_listed) / len(self.times_listed),
            "diversity": self.diversity_sum / self.diversity_lists
            if self.diversity_lists
            else None,
            "personalization": personalization_of_sums(self.unit_vector_sum, self.lists_with_films)
            if self.lists_with_films >= 2
            else None,
            "genre_counts": genre_counts_of_sums(
                self.times_listed, membership, genre_names, self.viewers
            ),
        }


@dataclass(frozen=True)
class ListSums:
    """The sums of the model-served lists (existing) and of the fallback's (new)."""

    existing: GroupSums
    new: GroupSums

    @classmethod
    def of(
        cls,
        film_ids: np.ndarray,
        from_model: np.ndarray,
        *,
        model: TrainedModel,
        catalogue_ids: np.ndarray,
    ) -> ListSums:
        """Sums of lists of film ids (viewers x films listed, -1 padding) with each viewer's
        from_model; catalogue_ids: the films that could be recommended (sorted), every listed
        film among them (ValueError naming one that is not)."""
        catalogue_ids = np.asarray(catalogue_ids, dtype=np.int64)
        positions = _positions(film_ids, lambda block: _catalogue_positions(catalogue_ids, block))
        factor_rows = _positions(
            film_ids, lambda block: model.film_index(block.ravel()).reshape(block.shape)
        )
        rows = _group_rows(np.asarray(from_model, dtype=bool))
        size = len(catalogue_ids)
        return cls(
            *(GroupSums.of(positions[rows[g]], factor_rows[rows[g]], model, size) for g in _PARTS)
        )

    @classmethod
    def empty(cls, catalogue_size: int) -> ListSums:
        """No lists: the start of a sum."""
        return cls(GroupSums.empty(catalogue_size), GroupSums.empty(catalogue_size))

    def __add__(self, other: ListSums) -> ListSums:
        return ListSums(self.existing + other.existing, self.new + other.new)

    def metrics(self, *, film_genres: pd.DataFrame, catalogue_ids: np.ndarray) -> dict[str, dict]:
        """The run's list metrics per viewer group: all, existing, new."""
        membership, genre_names = build_genre_matrix(catalogue_ids, film_genres)
        groups = {"all": self.existing + self.new, "existing": self.existing, "new": self.new}
        return {name: sums.metrics(membership, genre_names) for name, sums in groups.items()}

    def pack(self) -> tuple[dict, bytes]:
        """JSON-able scalars and the arrays as little-endian float64 bytes, for storage."""
        scalars = {g: {k: getattr(getattr(self, g), k) for k in _SCALARS} for g in _PARTS}
        arrays = np.stack([getattr(getattr(self, g), k) for g in _PARTS for k in _ARRAYS])
        return scalars, arrays.astype("<f8").tobytes()

    @classmethod
    def unpack(cls, scalars: dict, arrays: bytes, catalogue_size: int) -> ListSums:
        """The inverse of `pack`; ValueError when the arrays do not fit the catalogue."""
        values = np.frombuffer(arrays, dtype="<f8")
        per_film = len(_PARTS) * len(_ARRAYS)
        if values.size != per_film * catalogue_size:
            raise ValueError(
                f"stored list sums hold {values.size} figures, "
                f"not {per_film} x {catalogue_size} films"
            )
        values = values.reshape(len(_PARTS), len(_ARRAYS), catalogue_size).astype(np.float64)
        return cls(
            *(
                GroupSums(
                    **dict(zip(_ARRAYS, values[i], strict=True)),
                    **{k: scalars[g][k] for k in _SCALARS},
                )
                for i, g in enumerate(_PARTS)
            )
        )


def _catalogue_positions(catalogue_ids: np.ndarray, film_ids: np.ndarray) -> np.ndarray:
    positions = np.minimum(np.searchsorted(catalogue_ids, film_ids), len(catalogue_ids) - 1)
    outside = catalogue_ids[positions] != film_ids
    if outside.any():
        raise ValueError(
            f"film {int(film_ids[outside][0])} is listed but not in the catalogue of "
            f"{len(catalogue_ids):,} films that could be recommended"
        )
    return positions


def _positions(film_ids: np.ndarray, find) -> np.ndarray:
    """find(film ids) for each listed film, block by block of rows; -1 for padding."""
    positions = np.empty(film_ids.shape, dtype=np.int64)
    for start in range(0, len(film_ids), _POSITION_BLOCK_ROWS):
        block = film_ids[start : start + _POSITION_BLOCK_ROWS]
        valid = block >= 0
        found = np.full(block.shape, -1, dtype=np.int64)
        found[valid] = find(block[valid])
        positions[start : start + len(block)] = found
    return positions


def _group_rows(from_model: np.ndarray) -> dict[str, slice | np.ndarray]:
    """Each viewer group's rows: slices (views) when the model-served lists come first, as a
    scoring run ranks and stores them, else boolean masks (copies: 216 MB a group at 270k
    viewers x 100 films)."""
    served = int(np.count_nonzero(from_model))
    if from_model[:served].all():
        return {"existing": slice(0, served), "new": slice(served, None)}
    return {"existing": from_model, "new": ~from_model}
