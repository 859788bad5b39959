from django.core.management import BaseCommand, CommandError

from recommender.engine.model import EmptyRatingsError
from recommender.engine.offline import PROTOCOLS, markdown_table
from recommender.management.arguments import integer
from recommender.management.progress import progress_bar
from recommender.services.evaluation import evaluation_create


def family_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("--families needs at least one family name, e.g. svd,als")
    return names


class Command(BaseCommand):
    help = (
        "Evaluate every model family and the baselines offline on the imported ratings and "
        "print the table (docs/evaluation.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--protocol", choices=PROTOCOLS, default="recommenders")
        parser.add_argument("--k", type=integer, default=10, help="list length judged (default 10)")
        parser.add_argument("--families", type=family_names, default=None, help="e.g. svd,als")
        parser.add_argument("--seed", type=integer, default=None, help="default: the protocol's")
        parser.add_argument("--sweep", action="store_true", help="also sweep the penalty")
        parser.add_argument("--search", action="store_true", help="search each family first")
        parser.add_argument(
            "--iterations",
            type=integer,
            default=None,
            help="candidates per family in --search (default: the SEARCH_ITERATIONS setting)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        try:
            with progress_bar("evaluate", enabled=not options["no_progress"]) as progress:
                evaluation = evaluation_create(
                    actor="command:evaluate",
                    protocol=options["protocol"],
                    k=options["k"],
                    seed=options["seed"],
                    families=options["families"],
                    sweep=options["sweep"],
                    search=options["search"],
                    search_iterations=options["iterations"],
                    progress=progress,
                )
        except EmptyRatingsError as exc:
            raise CommandError(f"{exc} (import ratings first: manage.py import_movielens)") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(evaluation_summary(evaluation))


def evaluation_summary(evaluation) -> str:
    data = evaluation.dataset
    return "\n".join(
        [
            f"evaluation {evaluation.pk}: {evaluation.get_protocol_display()}, k {evaluation.k}, "
            f"seed {evaluation.seed}; {data['train']:,} training and {data['test']:,} test "
            f"ratings, {data['ranked_viewers']:,} viewers ranked over {data['catalogue']:,} "
            f"films in {evaluation.seconds:.1f} s",
            "",
            markdown_table(evaluation.rows, evaluation.k),
        ]
    )
