"""How long-running services report progress: a callback of (stage, fraction done).

Commands turn it into a tqdm bar; Celery tasks into their state meta."""

from collections.abc import Callable

ProgressCallback = Callable[[str, float], None]


def no_progress(stage: str, fraction: float) -> None:
    """The default when nobody is watching."""
