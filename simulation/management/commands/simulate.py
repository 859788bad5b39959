from django.core.management import BaseCommand, CommandError

from recommender.engine.artifact import ArtifactIntegrityError
from recommender.management.arguments import integer, number
from recommender.management.jobs import add_async_argument, model_work
from recommender.management.progress import progress_bar
from recommender.management.tables import format_table
from recommender.services.leases import AlreadyRunningError
from recommender.services.scoring import NoChampionError
from recommender.tasks import draw_metric_charts
from simulation.metrics import RoundMetrics
from simulation.models import SimulationRun
from simulation.services import (
    SimulationParameterError,
    SimulationParameters,
    simulation_run_create,
    simulation_run_execute,
    simulation_run_launch,
)
from simulation.shifts import ShiftError, parse_shift
from simulation.tasks import run_simulation


def shift_option(values: list[str]) -> dict[str, float]:
    """The --shift options as one shift (simulation.shifts.parse_shift, as the web form)."""
    try:
        return parse_shift(values)
    except ShiftError as exc:
        raise CommandError(f"--shift: {exc}") from None


def play_or_queue(
    command, options: dict, *, name: str, monitor: bool, search: bool = False
) -> SimulationRun | None:
    """Record a run and play it here holding the model-work lease, or with --async queue it
    for a worker (None then). Raises the services' errors for the caller to report."""
    parameters, actor = parameters_from(options), f"command:{name}"
    if options["run_async"]:
        _queue_run(command, parameters, actor, monitor=monitor, search=search)
        return None
    with model_work("the simulation cycle" if monitor else "a simulation"):
        run = simulation_run_create(parameters=parameters, actor=actor)
        with progress_bar(name, enabled=not options["no_progress"]) as progress:
            return simulation_run_execute(
                run=run,
                monitor=monitor,
                search=search,
                progress=progress,
                after_round=lambda: draw_metric_charts(run.pk),
            )


def _queue_run(command, parameters, actor: str, *, monitor: bool, search: bool) -> None:
    """Record the run and queue it for a worker; print the task id to follow."""
    try:
        run = simulation_run_launch(
            parameters=parameters, actor=actor, task=run_simulation, monitor=monitor, search=search
        )
    except AlreadyRunningError as busy:
        raise CommandError(f"not queued: {busy}") from busy
    command.stdout.write(f"queued task {run.task_id} (simulation.run): simulation run {run.pk}")
    command.stdout.write(f"follow it with: python manage.py task_status {run.task_id}")


def add_simulation_arguments(parser) -> None:
    add_async_argument(parser)
    parser.add_argument("--rounds", type=integer, default=1)
    parser.add_argument("--seed", type=integer, default=0)
    parser.add_argument(
        "--truth",
        choices=["oracle", "model"],
        help="true ratings: the oracle (default, SIM_TRUTH) or the served model (self-referential)",
    )
    parser.add_argument(
        "--shift",
        action="append",
        default=[],
        metavar="GENRE=MULTIPLIER",
        help="e.g. Action=0.9; repeatable",
    )
    parser.add_argument(
        "--shift-start", type=integer, default=1, help="first round the shift applies to"
    )
    parser.add_argument(
        "--arrivals", type=number, help="share of new viewers per round (default 0.05)"
    )
    parser.add_argument("--popularity-alpha", type=number)
    parser.add_argument("--popularity-transform", choices=["log", "minmax", "none"])
    parser.add_argument(
        "--sigma", help="rating spread in stars, or 'auto' to calibrate it to the champion's R²"
    )
    parser.add_argument("--no-progress", action="store_true")


def parameters_from(options: dict) -> SimulationParameters:
    sigma = options["sigma"]
    if sigma not in (None, "auto"):
        try:
            sigma = float(sigma)
        except ValueError:
            raise CommandError(f"--sigma: {sigma!r} is not a number or 'auto'") from None
    return SimulationParameters(
        rounds=options["rounds"],
        seed=options["seed"],
        truth=options["truth"],
        shift=shift_option(options["shift"]),
        shift_start=options["shift_start"],
        arrivals=options["arrivals"],
        popularity_transform=options["popularity_transform"],
        popularity_alpha=options["popularity_alpha"],
        sigma=sigma,
    )


def round_rows(run) -> list[tuple]:
    rows = []
    for round_ in run.rounds.order_by("number"):
        metrics = RoundMetrics.from_json(round_.metrics)
        existing, lists = metrics.accuracy["existing"].overall, metrics.lists["all"]
        rows.append(
            (
                round_.number,
                "yes" if round_.shift_active else "no",
                round_.interactions,
                round_.arrivals,
                existing.rmse,
                existing.r2,
                lists.coverage,
                lists.personalization,
            )
        )
    return rows


def genre_rows(run, genres: list[str]) -> list[tuple]:
    """Per round, the R² of existing viewers' ratings of each genre (None: not judged)."""
    rows = []
    for round_ in run.rounds.order_by("number"):
        per_genre = RoundMetrics.from_json(round_.metrics).accuracy["existing"].per_genre
        rows.append((round_.number, *(per_genre[g].r2 if g in per_genre else None for g in genres)))
    return rows


class Command(BaseCommand):
    help = (
        "Simulate viewers choosing and rating films from their recommendations, round after round."
    )

    def add_arguments(self, parser):
        add_simulation_arguments(parser)
        parser.add_argument(
            "--genres",
            default="",
            help="genres to show per-round R² for (default: shifted ones, Drama, Comedy)",
        )

    def handle(self, *args, **options):
        try:
            run = play_or_queue(self, options, name="simulate", monitor=False)
        except (SimulationParameterError, NoChampionError, ArtifactIntegrityError) as exc:
            raise CommandError(str(exc)) from exc
        if run is None:
            return
        sigma = run.parameters["sigma"] if run.sigma_calibrated is None else run.sigma_calibrated
        self.stdout.write(
            f"simulation {run.pk}: {run.rounds_planned} rounds, truth {run.truth}, sigma {float(sigma):.3f}"
        )
        self.stdout.write(
            format_table(
                [
                    "round",
                    "shift",
                    "ratings",
                    "arrivals",
                    "RMSE existing",
                    "R² existing",
                    "coverage",
                    "personalisation",
                ],
                round_rows(run),
            )
        )
        shifted = sorted(shift_option(options["shift"]))
        # By default: the shifted genres beside two large unshifted ones, to compare against.
        genres = [g.strip() for g in options["genres"].split(",") if g.strip()] or (
            shifted + [g for g in ("Drama", "Comedy") if g not in shifted] if shifted else []
        )
        if genres:
            self.stdout.write(
                format_table(["round", *(f"R² {g}" for g in genres)], genre_rows(run, genres))
            )
