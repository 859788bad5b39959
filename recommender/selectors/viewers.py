"""Viewers: whether one exists, how many there are, and one viewer's ratings page by page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Paginator
from django.db.models import Count, Q

from recommender.models import Rating, Viewer

RATINGS_PER_PAGE = 50


def viewer_exists(source_id: int) -> bool:
    return Viewer.objects.filter(source_id=source_id).exists()


def viewer_count() -> int:
    """Every known viewer, including those who arrived in simulations."""
    return Viewer.objects.count()


@dataclass(frozen=True)
class RatingRow:
    rated_at: datetime
    film_title: str
    film_year: int | None
    score: float
    origin: str  # original / simulated
    round_number: int | None  # the simulated round that produced it, if any
    round_run_id: int | None


@dataclass(frozen=True)
class RatingsPage:
    rows: list[RatingRow]
    number: int  # 1-based
    num_pages: int
    total: int  # ratings on every page

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


@dataclass(frozen=True)
class ViewerRatings:
    page: RatingsPage
    original: int
    simulated: int
    rounds: int  # simulated rounds the viewer rated in


def _rating_row(rating: Rating) -> RatingRow:
    round_ = rating.round if rating.round_id is not None else None
    return RatingRow(
        rated_at=rating.rated_at,
        film_title=rating.film.title,
        film_year=rating.film.year,
        score=rating.score,
        origin=rating.origin,
        round_number=round_.number if round_ is not None else None,
        round_run_id=round_.run_id if round_ is not None else None,
    )


def viewer_ratings(*, viewer_id: int, page: str | int | None) -> ViewerRatings:
    """The viewer's (by pk) ratings, newest first, one page at a time (a page number out of
    range shows the nearest page), and how many of each origin."""
    ratings = (
        Rating.objects.filter(viewer_id=viewer_id)
        .select_related("film", "round")
        .order_by("-rated_at", "-pk")
    )
    counts = Rating.objects.filter(viewer_id=viewer_id).aggregate(
        original=Count("pk", filter=Q(origin=Rating.Origin.ORIGINAL)),
        simulated=Count("pk", filter=Q(origin=Rating.Origin.SIMULATED)),
        rounds=Count("round", distinct=True),
    )
    shown = Paginator(ratings, RATINGS_PER_PAGE).get_page(page)
    return ViewerRatings(
        page=RatingsPage(
            rows=[_rating_row(r) for r in shown],
            number=shown.number,
            num_pages=shown.paginator.num_pages,
            total=shown.paginator.count,
        ),
        **counts,
    )
