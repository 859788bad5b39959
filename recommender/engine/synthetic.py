"""Synthetic rating data with a known ground truth, in the MovieLens file layout.

The real 26M-rating data set cannot be downloaded here, so the product proves that it scales
on data of the same shape drawn from a latent-factor model:

    rating = clip(round_half(mu + b_v + b_f + p_v . q_f + noise), 0.5, 5.0)

Film factors q_f are the mean of their genres' latent directions plus noise, so a viewer whose
factors point along a genre's direction rates that genre's films higher. Film popularity follows
a Zipf-Mandelbrot law and viewer activity a lognormal law, which together give MovieLens's
long tails. The generator's true parameters are returned with the data (and written to
`truth.npz`): they are the oracle that the simulation uses for "how would this viewer really
rate this film".

Everything is vectorised over viewers, films and ratings; the only Python loops are over the
19 genres, over bounded chunks of rating rows and over a few sampling rounds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from recommender.attributes import fields
from recommender.engine.checks import checked_int
from recommender.engine.model import ARRAY_FIELDS, FactorArrays

logger = logging.getLogger(__name__)

# MovieLens genre names, alphabetical as in movies.csv.
GENRES: tuple[str, ...] = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
# Relative frequency of each genre among films, roughly MovieLens latest-small's film counts
# (Drama and Comedy common, Film-Noir and IMAX rare).
# fmt: off
_GENRE_WEIGHTS = np.array(
    [1500, 1100, 450, 580, 3300, 1100, 500, 4400, 650, 130, 880, 150, 390, 540, 1550, 800,
     1730, 370, 170],
    dtype=np.float64,
)
# Rating offset of each genre, roughly MovieLens's per-genre mean minus its overall mean
# (Film-Noir, War and Documentary rated higher, Horror lower).
_GENRE_OFFSETS = np.array(
    [-0.10, -0.03, 0.10, -0.08, -0.10, 0.13, 0.27, 0.13, -0.03, 0.40, -0.22, 0.03, 0.05, 0.13,
     0.02, -0.08, -0.03, 0.27, 0.03],
    dtype=np.float64,
)
# fmt: on
_GENRES_PER_FILM = np.array([0.45, 0.35, 0.20])  # P(1), P(2), P(3) genres

_GLOBAL_MEAN = 3.59  # clipping at 5.0 pulls the observed mean down to about 3.5
_VIEWER_BIAS_SD = 0.40
_FILM_BIAS_SD = 0.35
_POPULARITY_LIFT = 0.12  # film bias per sd of log popularity: popular films rate a bit higher
_VIEWER_FACTOR_SD = 0.50  # sd of p_v . q_f, since |q_f| is about 1
_GENRE_SHARE = 0.8  # length of a film's genre direction in q_f; the noise fills |q_f|^2 to ~1
_NOISE_SD = 0.80  # with the above, observed ratings have sd ~1.0 like MovieLens

# Popularity weight of the film at popularity rank r (0-based) is 1 / (r + offset). The offset
# flattens the head so that the most popular film is drawn with probability about
# _TOP_FILM_DRAWS / (ratings per viewer): then it is rated by roughly half of the viewers, as
# in MovieLens, instead of by nearly all of them (pure Zipf over 45k films gives it 9 %).
_TOP_FILM_DRAWS = 1.3
# Viewer activity: a floor (MovieLens keeps viewers with >= 20 ratings) plus lognormal extras.
_MIN_RATINGS_PER_VIEWER = 20
_ACTIVITY_SIGMA = 1.3  # MovieLens: mean/median of ratings above the floor is about 2.5

# MovieLens timestamps run from January 1995 to 2017.
_FIRST_TIMESTAMP = 789_652_009  # 1995-01-09
_LAST_TIMESTAMP = 1_501_804_800  # 2017-08-04
_DAY = 86_400
_LAST_YEAR = 2017
_FIRST_YEAR = 1915

# Rows per chunk when computing p_v . q_f: two (chunk x n_factors) float64 gathers, about
# 320 MB at 20 factors, keeps 26M ratings well inside the memory budget.
_CHUNK = 1_000_000
_MAX_SAMPLING_ROUNDS = 60


@dataclass(frozen=True)
class SyntheticDataset(FactorArrays):
    """MovieLens-shaped frames and the true model that generated them.

    Row i of the viewer arrays belongs to `viewer_ids[i]` (userId), row j of the film arrays to
    `film_ids[j]` (movieId). `film_genres[j, g]` says whether film j has genre `genre_names[g]`.
    """

    movies: pd.DataFrame  # movieId, title, genres
    ratings: pd.DataFrame  # userId, movieId, rating, timestamp
    links: pd.DataFrame  # movieId, imdbId, tmdbId
    true_global_mean: float
    genre_names: tuple[str, ...]
    film_genres: np.ndarray
    genre_factors: np.ndarray
    noise_sd: float

    def __post_init__(self) -> None:
        n_viewers, n_films = len(self.viewer_ids), len(self.film_ids)
        expected = {
            "viewer_bias": (self.viewer_bias.shape, (n_viewers,)),
            "film_bias": (self.film_bias.shape, (n_films,)),
            "viewer_factors": (self.viewer_factors.shape[:1], (n_viewers,)),
            "film_factors": (self.film_factors.shape, (n_films, self.viewer_factors.shape[1])),
            "film_genres": (self.film_genres.shape, (n_films, len(self.genre_names))),
        }
        for name, (shape, wanted) in expected.items():
            if shape != wanted:
                raise ValueError(f"{name} has shape {shape}, expected {wanted}")

    def true_ratings(self, viewer_rows: np.ndarray, film_rows: np.ndarray) -> np.ndarray:
        """Noise-free rating of each (viewer row, film row) pair, clipped to [0.5, 5.0].

        Rows are positions in `viewer_ids` / `film_ids`, not the ids themselves.
        """
        viewer_rows = np.asarray(viewer_rows, dtype=np.int64)
        film_rows = np.asarray(film_rows, dtype=np.int64)
        if viewer_rows.shape != film_rows.shape or viewer_rows.ndim != 1:
            raise ValueError(
                f"viewer_rows and film_rows must be 1-d of equal length, got shapes "
                f"{viewer_rows.shape} and {film_rows.shape}"
            )
        scores = _expected_scores(
            viewer_rows,
            film_rows,
            self.true_global_mean,
            self.viewer_bias,
            self.film_bias,
            self.viewer_factors,
            self.film_factors,
        )
        return np.clip(scores, 0.5, 5.0)


class _Streams(NamedTuple):
    """One independent random stream per component, so that a change to one part (say,
    timestamps) leaves the others' draws unchanged."""

    genre: np.random.Generator
    popularity: np.random.Generator
    factor: np.random.Generator
    bias: np.random.Generator
    activity: np.random.Generator
    pair: np.random.Generator
    noise: np.random.Generator
    time: np.random.Generator
    id: np.random.Generator

    @classmethod
    def spawned(cls, seed: int) -> _Streams:
        return cls(*(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(9)))


def generate_synthetic(
    *, viewers: int, films: int, ratings: int, seed: int, n_factors: int = 20
) -> SyntheticDataset:
    """Draw a MovieLens-shaped data set of exactly `ratings` unique (viewer, film) ratings.

    Every viewer rates at least one film (at least 20 when `ratings / viewers >= 40`); films may
    go unrated, as in The Movies Dataset. The same arguments always give the same data.
    """
    _check_sizes(viewers=viewers, films=films, ratings=ratings, seed=seed, n_factors=n_factors)
    rng = _Streams.spawned(seed)

    film_genres = _assign_genres(films, rng.genre)
    popularity = _draw_popularity(films, ratings / viewers, rng.popularity)
    genre_factors, film_factors, viewer_factors = _draw_factors(
        viewers, film_genres, n_factors, rng.factor
    )
    viewer_bias = rng.bias.normal(0.0, _VIEWER_BIAS_SD, viewers)
    film_bias = _draw_film_bias(film_genres, popularity, rng.bias)

    counts = _draw_activity(viewers, films, ratings, rng.activity)
    viewer_rows, film_rows = _sample_pairs(counts, popularity, rng.pair)
    truth = (viewer_bias, film_bias, viewer_factors, film_factors)
    values = _draw_observed_ratings(viewer_rows, film_rows, truth, rng.noise)

    years = _draw_release_years(films, rng.time)
    timestamps = _draw_timestamps(viewer_rows, film_rows, viewers, years, rng.time)
    viewer_ids = np.arange(1, viewers + 1, dtype=np.int64)
    film_ids, imdb_ids, tmdb_ids = _draw_ids(films, rng.id)

    ratings_frame = _ratings_table(viewer_ids[viewer_rows], film_ids[film_rows], values, timestamps)
    movies = _movies_frame(film_ids, years, film_genres)
    links = pd.DataFrame({"movieId": film_ids, "imdbId": imdb_ids, "tmdbId": tmdb_ids})
    logger.info(
        "generated %d ratings by %d viewers of %d films (mean %.3f, sd %.3f)",
        len(ratings_frame),
        viewers,
        films,
        values.mean(),
        values.std(),
    )
    return SyntheticDataset(
        movies=movies,
        ratings=ratings_frame,
        links=links,
        true_global_mean=_GLOBAL_MEAN,
        viewer_ids=viewer_ids,
        film_ids=film_ids,
        viewer_bias=viewer_bias,
        film_bias=film_bias,
        viewer_factors=viewer_factors,
        film_factors=film_factors,
        genre_names=GENRES,
        film_genres=film_genres,
        genre_factors=genre_factors,
        noise_sd=_NOISE_SD,
    )


def _draw_observed_ratings(
    viewer_rows: np.ndarray,
    film_rows: np.ndarray,
    truth: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """The rating each pair is observed with: the true score (truth = viewer bias, film bias,
    viewer factors, film factors) plus noise, rounded to half stars within 0.5-5.0."""
    viewer_bias, film_bias, viewer_factors, film_factors = truth
    scores = _expected_scores(
        viewer_rows,
        film_rows,
        _GLOBAL_MEAN,
        viewer_bias,
        film_bias,
        viewer_factors,
        film_factors,
    )
    scores += rng.normal(0.0, _NOISE_SD, len(scores))
    return np.clip(np.round(scores * 2.0) / 2.0, 0.5, 5.0)


def _draw_film_bias(
    film_genres: np.ndarray, popularity: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Each film's bias: its genres' mean offset, a lift for popular films, and noise."""
    log_popularity = np.log(popularity)
    spread = log_popularity.std()
    # Centred on the rating-weighted mean, so the lift leaves the mean rating where it is
    # however concentrated the popularity is.
    lift = (log_popularity - popularity @ log_popularity) / spread if spread > 0 else 0.0
    return (
        (film_genres @ _GENRE_OFFSETS) / film_genres.sum(axis=1)
        + _POPULARITY_LIFT * lift
        + rng.normal(0.0, _FILM_BIAS_SD, len(film_genres))
    )


def _ratings_table(
    user_ids: np.ndarray, movie_ids: np.ndarray, values: np.ndarray, timestamps: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {"userId": user_ids, "movieId": movie_ids, "rating": values, "timestamp": timestamps}
    )


def _movies_frame(film_ids: np.ndarray, years: np.ndarray, film_genres: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "movieId": film_ids,
            "title": "Synthetic Film "
            + pd.Series(film_ids).astype(str)
            + " ("
            + pd.Series(years).astype(str)
            + ")",
            "genres": _genre_strings(film_genres),
        }
    )


def write_movielens_layout(dataset: SyntheticDataset, directory: Path) -> None:
    """Write ratings.csv, movies.csv, links.csv (MovieLens columns) and truth.npz.

    truth.npz holds only numeric and boolean arrays (load it with allow_pickle=False); genre
    names are the column order of `film_genres`, which is `GENRES`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Each file is written under a temporary name and renamed when complete, so a crash
    # mid-write never leaves a truncated file that looks finished.
    with _replacing(directory / "movies.csv") as path:
        dataset.movies.to_csv(path, index=False)
    with _replacing(directory / "links.csv") as path:
        dataset.links.to_csv(path, index=False)
    with _replacing(directory / "ratings.csv") as path:
        # In chunks, so the text of 26M rows never sits in memory at once.
        dataset.ratings.to_csv(path, index=False, float_format="%.1f", chunksize=_CHUNK)
    with _replacing(directory / "truth.npz") as path, path.open("wb") as file:
        np.savez(
            file,
            true_global_mean=np.float64(dataset.true_global_mean),
            noise_sd=np.float64(dataset.noise_sd),
            **fields(dataset, *ARRAY_FIELDS, "film_genres", "genre_factors"),
        )
    logger.info("wrote synthetic data set to %s", directory)


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside `target` that replaces it if the block completes."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


# --- parts ------------------------------------------------------------------------------------


def _check_sizes(*, viewers: int, films: int, ratings: int, seed: int, n_factors: int) -> None:
    checked_int("seed", seed, minimum=0)
    for name, value in (
        ("viewers", viewers),
        ("films", films),
        ("ratings", ratings),
        ("n_factors", n_factors),
    ):
        checked_int(name, value, minimum=1)
    if ratings < viewers:
        raise ValueError(
            f"ratings must be at least viewers (every viewer rates a film), "
            f"got ratings={ratings} < viewers={viewers}"
        )
    if ratings > viewers * films:
        raise ValueError(
            f"ratings must be at most viewers * films = {viewers * films} unique pairs, "
            f"got ratings={ratings}"
        )


def _assign_genres(films: int, rng: np.random.Generator) -> np.ndarray:
    """Bool (films, genres): 1-3 distinct genres per film, drawn by genre frequency."""
    n_genres = rng.choice(len(_GENRES_PER_FILM), size=films, p=_GENRES_PER_FILM) + 1
    # Gumbel top-k: the k largest of log(weight) + Gumbel noise are a weighted sample of k
    # genres without replacement, for every film at once.
    keys = np.log(_GENRE_WEIGHTS) + rng.gumbel(size=(films, len(GENRES)))
    top = np.argsort(-keys, axis=1)[:, : len(_GENRES_PER_FILM)]
    chosen = np.arange(top.shape[1]) < n_genres[:, None]
    membership = np.zeros((films, len(GENRES)), dtype=bool)
    rows = np.broadcast_to(np.arange(films)[:, None], top.shape)
    membership[rows[chosen], top[chosen]] = True
    return membership


def _draw_popularity(films: int, per_viewer: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-Mandelbrot weights (summing to 1) in a random order over the films."""
    # With weights 1 / (r + b), P(top film) ~ 1 / (b * ln(1 + films / b)); b * ln(1 + films / b)
    # rises from 0 to films as b grows, so the wanted P(top film) fixes b.
    from scipy.optimize import brentq  # here: scipy.optimize costs 30 MB in every process

    wanted = per_viewer / _TOP_FILM_DRAWS  # 1 / P(top film)
    if wanted >= films:  # dense data: even uniform popularity draws the top film often enough
        offset = float(films) * 1e6
    else:
        offset = max(1.0, brentq(lambda b: b * np.log1p(films / b) - wanted, 1e-9, 1e12))
    by_rank = 1.0 / (np.arange(films) + offset)
    weights = by_rank[rng.permutation(films)]
    return weights / weights.sum()


def _draw_factors(
    viewers: int, film_genres: np.ndarray, n_factors: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    directions = rng.normal(size=(len(GENRES), n_factors))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    # Sum over a film's genres scaled by 1/sqrt(count): unit length when the directions are
    # near-orthogonal, so multi-genre films are not systematically more polarising.
    genre_part = (film_genres @ directions) / np.sqrt(film_genres.sum(axis=1, keepdims=True))
    noise_sd = np.sqrt((1.0 - _GENRE_SHARE**2) / n_factors)
    film_factors = _GENRE_SHARE * genre_part + rng.normal(0.0, noise_sd, genre_part.shape)
    viewer_factors = rng.normal(0.0, _VIEWER_FACTOR_SD, (viewers, n_factors))
    return directions, film_factors, viewer_factors


def _draw_activity(viewers: int, films: int, ratings: int, rng: np.random.Generator) -> np.ndarray:
    """Ratings per viewer: a floor plus lognormal-weighted extras, capped at `films`, summing
    exactly to `ratings`."""
    floor = min(_MIN_RATINGS_PER_VIEWER, max(1, ratings // (2 * viewers)), films)
    weights = rng.lognormal(0.0, _ACTIVITY_SIGMA, viewers)
    counts = floor + rng.multinomial(ratings - floor * viewers, weights / weights.sum())
    # No viewer can rate more films than exist: hand the overflow to viewers with room, in
    # proportion to their room (so the hand-out rarely overflows again).
    for _ in range(20):
        excess = int(np.maximum(counts - films, 0).sum())
        if excess == 0:
            return counts
        counts = np.minimum(counts, films)
        room = films - counts
        counts += rng.multinomial(excess, room / room.sum())
    excess = int(np.maximum(counts - films, 0).sum())
    counts = np.minimum(counts, films)
    room = films - counts
    # Deterministic fill of whatever is still over, in viewer order; _check_sizes guarantees
    # the total room suffices.
    before = np.cumsum(room) - room
    counts += np.clip(excess - before, 0, room)
    return counts


def _sample_pairs(
    counts: np.ndarray, popularity: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """For every viewer v, `counts[v]` distinct films drawn by popularity without replacement.

    Rounds of oversampled draws with replacement: within a viewer the draws are i.i.d., so
    keeping the first new films in draw order is sequential sampling without replacement. Later
    rounds top up viewers still short and mix the popularity with a uniform law, so viewers who
    rate most of the catalogue finish quickly. Returns (viewer rows, film rows) sorted by
    viewer, then film.
    """
    n_viewers, n_films = len(counts), len(popularity)
    viewer_index = np.arange(n_viewers, dtype=np.int64)
    kept: list[np.ndarray] = []  # sorted pair keys viewer * n_films + film, one array a round
    deficit = counts.astype(np.int64)
    attempt = 0
    while deficit.any():
        if attempt == _MAX_SAMPLING_ROUNDS:
            raise RuntimeError(
                f"pair sampling did not finish in {_MAX_SAMPLING_ROUNDS} rounds "
                f"({int(deficit.sum())} ratings short)"
            )
        uniform_share = min(1.0, 0.25 * max(0, attempt - 1))
        weights = (1.0 - uniform_share) * popularity + uniform_share / n_films
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        # A viewer who already has h of n films needs about n / (n - h) uniform draws per new
        # film; the growing factor covers duplicates among popular films.
        unseen = np.maximum(n_films - (counts - deficit), 1)  # 0 only where deficit is 0
        oversample = min(1.3 * 2.0**attempt, 16.0)
        draws = np.ceil(deficit * oversample * (n_films / unseen)).astype(np.int64)
        viewers = np.repeat(viewer_index, draws)
        films = np.minimum(
            np.searchsorted(cdf, rng.random(len(viewers)), side="right"), n_films - 1
        )
        keys = viewers * n_films + films
        del viewers, films
        # First occurrence of each key, kept in draw order (and so grouped by viewer).
        first = np.zeros(len(keys), dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True
        fresh = keys[first]
        del keys, first
        for earlier in kept:
            fresh = fresh[~_contains_sorted(earlier, fresh)]
        owner = fresh // n_films
        per_viewer = np.bincount(owner, minlength=n_viewers)
        group_start = np.cumsum(per_viewer) - per_viewer
        position = np.arange(len(fresh)) - group_start[owner]
        taken = np.sort(fresh[position < deficit[owner]])
        deficit -= np.bincount(taken // n_films, minlength=n_viewers)
        kept.append(taken)
        logger.debug(
            "pair sampling round %d: %d viewers still short", attempt, np.count_nonzero(deficit)
        )
        attempt += 1
    keys = np.sort(np.concatenate(kept)) if len(kept) > 1 else kept[0]
    return keys // n_films, keys % n_films


def _contains_sorted(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """needles[i] in haystack, for a sorted haystack (np.isin would sort it again)."""
    if len(haystack) == 0:
        return np.zeros(len(needles), dtype=bool)
    at = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return haystack[at] == needles


def _expected_scores(
    viewer_rows: np.ndarray,
    film_rows: np.ndarray,
    global_mean: float,
    viewer_bias: np.ndarray,
    film_bias: np.ndarray,
    viewer_factors: np.ndarray,
    film_factors: np.ndarray,
) -> np.ndarray:
    scores = global_mean + viewer_bias[viewer_rows] + film_bias[film_rows]
    for start in range(0, len(scores), _CHUNK):
        stop = start + _CHUNK
        scores[start:stop] += np.einsum(
            "ij,ij->i",
            viewer_factors[viewer_rows[start:stop]],
            film_factors[film_rows[start:stop]],
        )
    return scores


def _draw_release_years(films: int, rng: np.random.Generator) -> np.ndarray:
    """Release years skewed recent, as in film catalogues."""
    years = _LAST_YEAR - np.floor(rng.exponential(15.0, films)).astype(np.int64)
    return np.maximum(years, _FIRST_YEAR)


def _draw_timestamps(
    viewer_rows: np.ndarray,
    film_rows: np.ndarray,
    viewers: int,
    years: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Unix seconds. Viewers join in userId order between 1995 and 2017 and rate during an
    active spell (lognormal, median a month: many rate everything in one sitting); nobody rates
    a film before January 1st of its release year."""
    joined = np.sort(rng.integers(_FIRST_TIMESTAMP, _LAST_TIMESTAMP, viewers))
    spell = np.exp(rng.normal(np.log(30 * _DAY), 2.0, viewers)).astype(np.int64)
    left = np.minimum(joined + spell, _LAST_TIMESTAMP)
    released = (years - 1970).astype("datetime64[Y]").astype("datetime64[s]").astype(np.int64)
    start = np.maximum(joined[viewer_rows], released[film_rows])
    # A film released after the viewer's spell is rated within a month of its release.
    stop = np.minimum(np.maximum(left[viewer_rows], start + 30 * _DAY), _LAST_TIMESTAMP)
    return start + (rng.random(len(start)) * (stop - start)).astype(np.int64)


def _draw_ids(films: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """movieIds (sparse, increasing, like MovieLens's), imdbIds (7-digit strings), tmdbIds.

    tmdbIds come from the same number range as movieIds on purpose: the two id spaces overlap
    in The Movies Dataset, and joining one to the other directly must give wrong films rather
    than happen to work. No film's tmdbId equals its own movieId.
    """
    id_range = 3 * films
    film_ids = np.sort(rng.choice(id_range, size=films, replace=False)) + 1
    tmdb_ids = rng.choice(id_range, size=films, replace=False) + 1
    same = np.flatnonzero(tmdb_ids == film_ids)
    if len(same) > 1:
        # Rotating the clashing values among themselves gives each the value of another
        # clashing film, i.e. another film's distinct movieId.
        tmdb_ids[same] = np.roll(tmdb_ids[same], 1)
    elif len(same) == 1 and films > 1:
        other = (same[0] + 1) % films
        tmdb_ids[[same[0], other]] = tmdb_ids[[other, same[0]]]
    elif len(same) == 1:
        tmdb_ids[0] = film_ids[0] + 1
    imdb_numbers = rng.choice(9_999_999, size=films, replace=False) + 1
    imdb_ids = pd.Series(imdb_numbers).astype(str).str.zfill(7).to_numpy()
    return film_ids.astype(np.int64), imdb_ids, tmdb_ids.astype(np.int64)


def _genre_strings(film_genres: np.ndarray) -> np.ndarray:
    """'Action|Comedy' per film, genres in alphabetical order as MovieLens writes them."""
    text = np.full(len(film_genres), "", dtype=object)
    for column, name in enumerate(GENRES):
        has = film_genres[:, column]
        text[has] = np.where(text[has] == "", name, text[has] + "|" + name)
    return text
