from django.core.management import BaseCommand, CommandError

from recommender.engine.artifact import ArtifactIntegrityError
from recommender.management.jobs import add_async_argument, model_work
from recommender.management.progress import progress_bar
from recommender.management.tables import format_table
from recommender.services.leases import AlreadyRunningError
from recommender.services.scoring import NoChampionError
from simulation.models import SimulationRun
from simulation.services import (
    SimulationParameterError,
    SimulationParameters,
    simulation_run_create,
    simulation_run_execute,
    simulation_run_launch,
)


def parse_shift(values: list[str]) -> dict[str, float]:
    shift: dict[str, float] = {}
    for value in values:
        genre, sep, multiplier = value.partition("=")
        try:
            if not sep or not genre.strip():
                raise ValueError
            shift[genre.strip()] = float(multiplier)
        except ValueError:
            raise CommandError(
                f"--shift: {value!r} is not GENRE=MULTIPLIER, e.g. Action=0.9"
            ) from None
    return shift


def play_or_queue(
    command, options: dict, *, name: str, monitor: bool, search: bool = False
) -> SimulationRun | None:
    """Record a run and play it here holding the model-work lease, or with --async queue it
    for a worker (None then). Raises the services' errors for the caller to report."""
    parameters, actor = parameters_from(options), f"command:{name}"
    if options["run_async"]:
        try:
            run = simulation_run_launch(
                parameters=parameters, actor=actor, monitor=monitor, search=search
            )
        except AlreadyRunningError as busy:
            raise CommandError(f"not queued: {busy}") from busy
        task_id = run.parameters["task_id"]
        command.stdout.write(f"queued task {task_id} (simulation.run): simulation run {run.pk}")
        command.stdout.write(f"follow it with: python manage.py task_status {task_id}")
        return None
    with model_work("the simulation cycle" if monitor else "a simulation"):
        run = simulation_run_create(parameters=parameters, actor=actor)
        with progress_bar(name, enabled=not options["no_progress"]) as progress:
            return simulation_run_execute(
                run=run, monitor=monitor, search=search, progress=progress
            )


def add_simulation_arguments(parser) -> None:
    add_async_argument(parser)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", choices=["model", "oracle"], default="model")
    parser.add_argument(
        "--shift",
        action="append",
        default=[],
        metavar="GENRE=MULTIPLIER",
        help="e.g. Action=0.9; repeatable",
    )
    parser.add_argument(
        "--shift-start", type=int, default=1, help="first round the shift applies to"
    )
    parser.add_argument(
        "--arrivals", type=float, help="share of new viewers per round (default 0.05)"
    )
    parser.add_argument("--popularity-alpha", type=float)
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
        shift=parse_shift(options["shift"]),
        shift_start=options["shift_start"],
        arrivals=options["arrivals"],
        popularity_transform=options["popularity_transform"],
        popularity_alpha=options["popularity_alpha"],
        sigma=sigma,
    )


def round_rows(run) -> list[tuple]:
    rows = []
    for round_ in run.rounds.order_by("number"):
        existing = round_.metrics["accuracy"]["existing"]
        lists = round_.metrics["lists"]["all"]
        rows.append(
            (
                round_.number,
                "yes" if round_.shift_active else "no",
                round_.interactions,
                round_.arrivals,
                existing["overall"]["rmse"],
                existing["overall"]["r2"],
                lists.get("coverage"),
                lists.get("personalization"),
            )
        )
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
        sigma = run.parameters.get("sigma_calibrated", run.parameters["sigma"])
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
        shifted = sorted(parse_shift(options["shift"]))
        # By default: the shifted genres beside two large unshifted ones, to compare against.
        genres = [g.strip() for g in options["genres"].split(",") if g.strip()] or (
            shifted + [g for g in ("Drama", "Comedy") if g not in shifted] if shifted else []
        )
        if genres:
            rows = [
                (
                    r.number,
                    *(
                        r.metrics["accuracy"]["existing"]["per_genre"].get(g, {}).get("r2")
                        for g in genres
                    ),
                )
                for r in run.rounds.order_by("number")
            ]
            self.stdout.write(format_table(["round", *(f"R² {g}" for g in genres)], rows))
