"""Small data sets the tests write themselves, with answers known by construction."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_text

MOVIES = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
2,Jumanji (1995),Adventure|Children|Fantasy
3,"Heat, Reloaded (1995)",Action|Crime|Thriller
4,Unrated Film (2001),Drama
5,No Genre Film,(no genres listed)
"""
LINKS = """movieId,imdbId,tmdbId
1,0114709,862
2,0113497,8844
3,0113277,949
4,0000004,
5,0000005,5005
"""
RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,964982703
1,2,3.5,964981247
1,3,5.0,964982224
2,1,0.5,964982931
2,3,2.5,964983815
3,2,4.5,964982400
3,5,1.0,964984100
"""


def write_movielens(
    directory: Path, *, movies: str = MOVIES, ratings: str = RATINGS, links: str | None = LINKS
) -> Path:
    write_text(directory / "movies.csv", movies)
    write_text(directory / "ratings.csv", ratings)
    if links is not None:
        write_text(directory / "links.csv", links)
    return directory


# The Movies Dataset: ratings use MovieLens ids, metadata uses TMDB ids, and the two id spaces
# overlap on purpose (TMDB id 1 and 2 exist in the metadata, as other films): joining ratings to
# metadata directly, as the original system did, gives the wrong titles and genres.
MD_LINKS = """movieId,imdbId,tmdbId
1,0114709,862
2,0113497,8844
3,0113228,15602
4,0000004,999999
"""
MD_METADATA = """adult,genres,id,imdb_id,release_date,title,overview
False,"[{'id': 16, 'name': 'Animation'}, {'id': 35, 'name': 'Comedy'}, {'id': 10751, 'name': 'Family'}]",862,tt0114709,1995-10-30,Toy Story,"A cowboy doll, profoundly threatened"
False,"[{'id': 12, 'name': 'Adventure'}, {'id': 14, 'name': 'Fantasy'}, {'id': 10751, 'name': 'Family'}]",8844,tt0113497,1995-12-15,Jumanji,"When siblings Judy and Peter
discover an enchanted board game"
False,"[{'id': 10749, 'name': 'Romance'}, {'id': 35, 'name': 'Comedy'}]",15602,tt0113228,1995-12-22,Grumpier Old Men,A family wedding
False,"[{'id': 27, 'name': 'Horror'}]",1,tt9999991,1990-01-01,Wrong Film One,Never rated
False,"[{'id': 37, 'name': 'Western'}]",2,tt9999992,1991-01-01,Wrong Film Two,Never rated
"""
MD_RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,1260759144
1,2,3.0,1260759179
2,3,5.0,1260759182
2,4,2.0,1260759185
3,1,1.5,1260759187
"""


def write_movies_dataset(
    directory: Path,
    *,
    metadata: str = MD_METADATA,
    links: str = MD_LINKS,
    ratings: str = MD_RATINGS,
    small: bool = False,
) -> Path:
    suffix = "_small" if small else ""
    write_text(directory / "movies_metadata.csv", metadata)
    write_text(directory / f"links{suffix}.csv", links)
    write_text(directory / f"ratings{suffix}.csv", ratings)
    return directory


def database_snapshot() -> dict:
    """Everything an import may write, to prove a failed import changed nothing."""
    from recommender.models import Film, Genre, Rating, Viewer

    return {
        "genres": list(Genre.objects.values_list("name", flat=True)),
        "films": list(Film.objects.values_list("source_id", "title", "year", "imdb_id", "tmdb_id")),
        "film_genres": list(
            Film.genres.through.objects.values_list("film__source_id", "genre__name").order_by("id")
        ),
        "viewers": list(Viewer.objects.values_list("source_id", flat=True)),
        "ratings": list(
            Rating.objects.order_by("id").values_list(
                "viewer__source_id", "film__source_id", "score", "rated_at", "origin"
            )
        ),
    }
