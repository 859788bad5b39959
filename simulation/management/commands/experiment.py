from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError

from recommender.engine.artifact import ArtifactIntegrityError
from recommender.management.arguments import integer, number
from recommender.management.jobs import model_work_with_progress
from recommender.management.tables import comparison_table, format_table
from recommender.services.lifecycle import IllegalTransitionError
from recommender.services.scoring import NoChampionError
from recommender.tasks import draw_metric_charts
from simulation.services import SimulationParameterError, experiment_genre_shift


class Command(BaseCommand):
    help = "Re-run the original system's experiments. genre-shift: rate one genre lower, detect, retrain, compare."

    def add_arguments(self, parser):
        parser.add_argument("experiment", choices=["genre-shift"])
        parser.add_argument("--genre", default="Action")
        parser.add_argument("--multiplier", type=number, default=0.9)
        parser.add_argument(
            "--truth",
            choices=["oracle", "model"],
            help="true ratings: the oracle (default, SIM_TRUTH) or the served model (self-referential)",
        )
        parser.add_argument(
            "--rounds", type=integer, default=3, help="shifted rounds before the drift check"
        )
        parser.add_argument("--seed", type=integer, default=0)
        parser.add_argument(
            "--approve-as", help="a reviewer's username: approve a challenger sent to review"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        reviewer = None
        if options["approve_as"]:
            try:
                reviewer = get_user_model().objects.get(username=options["approve_as"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"--approve-as: no account {options['approve_as']!r}") from None
        try:
            with model_work_with_progress(
                "the genre-shift experiment", bar="experiment", options=options
            ) as progress:
                result = experiment_genre_shift(
                    genre=options["genre"],
                    multiplier=options["multiplier"],
                    truth=options["truth"],
                    shifted_rounds=options["rounds"],
                    seed=options["seed"],
                    approve_as=reviewer,
                    progress=progress,
                )
        except (
            SimulationParameterError,
            NoChampionError,
            ArtifactIntegrityError,
            IllegalTransitionError,
        ) as exc:
            raise CommandError(str(exc)) from exc
        draw_metric_charts()
        genre = options["genre"]
        self.stdout.write(
            f"genre shift: {genre} x{options['multiplier']}, truth {result.baseline.truth}"
        )
        self.stdout.write(
            f"drift report {result.drift_report_id}: degraded {', '.join(result.degraded) or 'nothing'}"
        )
        self.stdout.write(
            f"decision: {result.decision or 'none'} ({result.reason}); challenger now {result.challenger_status or '-'}"
        )
        if result.comparisons:
            self.stdout.write(comparison_table(result.comparisons))
        before = result.genre_counts_before
        after = result.genre_counts_after
        if after is None:
            self.stdout.write(
                "no promotion, so no round under a new champion; genre counts before:"
            )
            rows = sorted(((g, c) for g, c in before.items()), key=lambda row: -row[1])
            self.stdout.write(format_table(["genre", "films per top-100 list"], rows))
            return
        rows = sorted(
            ((g, before[g], after.get(g, 0.0), after.get(g, 0.0) - before[g]) for g in before),
            key=lambda r: r[3],
        )
        self.stdout.write(
            format_table(["genre", "per top 100 before", "after", "difference"], rows)
        )
        change = after.get(genre, 0.0) - before.get(genre, 0.0)
        self.stdout.write(
            f"{genre}: {change:+.2f} films per 100 recommended (the original system saw -6.2)"
        )
