"""What the importers share: which part of the ratings file to take, and importing here with
a progress bar or queueing the import task (--async)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management import CommandError

from recommender import tasks
from recommender.datasets import DatasetError, RatingFilter, field_limits
from recommender.management.arguments import integer
from recommender.management.jobs import launch
from recommender.management.progress import progress_bar
from recommender.services.imports import ImportSummary


def add_filter_arguments(parser) -> None:
    parser.add_argument("directory", help="folder holding the data files")
    parser.add_argument("--max-rows", type=integer, help="import only the first N ratings rows")
    parser.add_argument(
        "--viewers",
        help="import only these viewers: ids and ranges, e.g. 1-100,250,300-310",
    )
    parser.add_argument(
        "--max-viewers", type=integer, help="import only the N viewers with the lowest ids"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


_ID_OR_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def parse_viewer_ranges(text: str | None) -> tuple[tuple[int, int], ...] | None:
    """'1-100,250' -> ((1, 100), (250, 250)): inclusive intervals, never expanded, so
    1-3000000000 costs two numbers. Ids are from 1 to the largest the model stores."""
    if text is None:
        return None
    largest = field_limits().largest_id
    ranges: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip()
        match = _ID_OR_RANGE.fullmatch(part)
        if match is None or int(match.group(1)) < 1:
            raise CommandError(f"--viewers: {part!r} is not a positive id or a range like 1-100")
        low = int(match.group(1))
        high = low if match.group(2) is None else int(match.group(2))
        if max(low, high) > largest:
            raise CommandError(f"--viewers: {part!r} goes beyond the largest id {largest}")
        if high < low:
            raise CommandError(f"--viewers: {part!r} is a range whose end is before its start")
        ranges.append((low, high))
    return tuple(ranges)


def rating_filter_from(options: dict) -> RatingFilter:
    try:
        return RatingFilter(
            max_rows=options["max_rows"],
            viewer_ranges=parse_viewer_ranges(options["viewers"]),
            max_viewers=options["max_viewers"],
        )
    except ValueError as exc:
        raise CommandError(f"--{str(exc).replace('_', '-')}") from exc


def queue_import(command, options: dict, rating_filter: RatingFilter, layout: str, **extra) -> None:
    """--async: queue the import task with the same folder, filter and options."""
    ranges = rating_filter.viewer_ranges
    kwargs = {
        "directory": str(Path(options["directory"]).resolve()),
        "layout": layout,
        "max_rows": rating_filter.max_rows,
        "viewer_ranges": None if ranges is None else [list(r) for r in ranges],
        "max_viewers": rating_filter.max_viewers,
        **extra,
    }
    launch(command, tasks.import_dataset, kwargs=kwargs)


def import_or_queue(
    command,
    options: dict,
    dataset_import: Callable[..., ImportSummary],
    *,
    layout: str,
    on_skipped: Callable[[str], None] | None = None,
    **layout_options: Any,
) -> None:
    """Import the folder here with a progress bar and print the summary, or with --async queue
    the import task. layout_options (small, lenient_metadata) go to both; on_skipped, a
    callback, only to the import run here."""
    rating_filter = rating_filter_from(options)
    if options["run_async"]:
        queue_import(command, options, rating_filter, layout, **layout_options)
        return
    here_only = {"on_skipped": on_skipped} if on_skipped is not None else {}
    try:
        with progress_bar("import", enabled=not options["no_progress"]) as progress:
            summary = dataset_import(
                directory=Path(options["directory"]),
                rating_filter=rating_filter,
                progress=progress,
                **layout_options,
                **here_only,
            )
    except DatasetError as exc:
        raise CommandError(f"nothing imported: {exc}") from exc
    command.stdout.write(summary.as_line())
