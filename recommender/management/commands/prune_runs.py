from django.core.management import BaseCommand, CommandError

from recommender.management.arguments import integer
from recommender.services.pruning import scoring_runs_prune


class Command(BaseCommand):
    help = (
        "Delete old scoring runs and their lists: keep the served run, the --keep newest "
        "completed runs before it (default: the KEEP_SCORING_RUNS setting), every newer run "
        "and every running one. Beat runs the same task daily."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep", type=integer, metavar="N", help="completed runs kept before the served one"
        )

    def handle(self, *args, **options):
        try:
            outcome = scoring_runs_prune(keep=options["keep"], actor="command:prune_runs")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if outcome.served_run_id is None:
            self.stdout.write("no served scoring run: nothing pruned")
            return
        deleted = ", ".join(map(str, outcome.deleted_run_ids)) or "none"
        self.stdout.write(
            f"served run {outcome.served_run_id}; deleted run(s) {deleted} "
            f"({outcome.deleted_lists:,} lists); kept {', '.join(map(str, outcome.kept_run_ids))}"
        )
