"""A tqdm progress bar that services report to through a (stage, fraction) callback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from recommender.progress import ProgressCallback


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[ProgressCallback]:
    bar = tqdm(
        total=100,
        desc=description,
        unit="%",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
        disable=not enabled,
        file=sys.stderr,
    )

    def report(stage: str, fraction: float) -> None:
        bar.set_postfix_str(stage, refresh=False)
        bar.update(max(0.0, round(100 * fraction, 1) - bar.n))

    try:
        yield report
    finally:
        bar.close()
