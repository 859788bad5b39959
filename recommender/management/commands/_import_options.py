"""Options shared by the importers: which part of the ratings file to take."""

from __future__ import annotations

from pathlib import Path

from django.core.management import CommandError

from recommender import tasks
from recommender.datasets import RatingFilter
from recommender.management.jobs import launch


def add_filter_arguments(parser) -> None:
    parser.add_argument("directory", help="folder holding the CSV files")
    parser.add_argument("--max-rows", type=int, help="import only the first N ratings rows")
    parser.add_argument(
        "--viewers",
        help="import only these viewers: ids and ranges, e.g. 1-100,250,300-310",
    )
    parser.add_argument(
        "--max-viewers", type=int, help="import only the N viewers with the lowest ids"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_viewer_ids(text: str | None) -> frozenset[int] | None:
    if text is None:
        return None
    ids: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                if low > high:
                    raise ValueError
                ids.update(range(low, high + 1))
            else:
                ids.add(int(part))
        except ValueError:
            raise CommandError(f"--viewers: {part!r} is not an id or a range like 1-100") from None
    return frozenset(ids)


def rating_filter_from(options: dict) -> RatingFilter:
    try:
        return RatingFilter(
            max_rows=options["max_rows"],
            viewer_ids=parse_viewer_ids(options["viewers"]),
            max_viewers=options["max_viewers"],
        )
    except ValueError as exc:
        raise CommandError(f"--{str(exc).replace('_', '-')}") from exc


def queue_import(command, options: dict, rating_filter: RatingFilter, layout: str, **extra) -> None:
    """--async: queue the import task with the same folder, filter and options."""
    viewer_ids = rating_filter.viewer_ids
    kwargs = {
        "directory": str(Path(options["directory"]).resolve()),
        "layout": layout,
        "max_rows": rating_filter.max_rows,
        "viewer_ids": None if viewer_ids is None else sorted(viewer_ids),
        "max_viewers": rating_filter.max_viewers,
        **extra,
    }
    launch(command, tasks.import_dataset, kwargs=kwargs)
