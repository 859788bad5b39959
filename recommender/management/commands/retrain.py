from datetime import datetime

from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.engine.families import FAMILIES
from recommender.engine.search import Objective
from recommender.management.arguments import integer
from recommender.management.jobs import (
    MODEL_WORK_ERRORS,
    add_async_argument,
    launch,
    model_work_with_progress,
)
from recommender.management.tables import (
    comparison_table,
    described_hyperparameters,
    format_table,
    format_value,
)
from recommender.services.retraining import AUTO_FAMILY, TrainingWindow, model_version_retrain


def models_table(outcome) -> str:
    """Both models side by side: family, hyperparameters, their holdout benchmarks at training
    time (each on its own holdout) and their lists on the shared recent holdout."""
    ranking = outcome.ranking
    k = ranking["k"]
    rows = []
    for role, version in (("champion", outcome.champion), ("challenger", outcome.challenger)):
        metrics, recent = version.metrics, ranking[role] or {}
        overall = metrics.get("overall") or {}
        rows.append(
            (
                f"{role} v{version.pk}",
                version.algorithm,
                overall.get("rmse"),
                overall.get("r2"),
                metrics.get("precision_at_k"),
                metrics.get("ndcg_at_k"),
                recent.get("precision_at_k"),
                recent.get("ndcg_at_k"),
            )
        )
    headers = ["model", "family", "RMSE", "R²", f"P@{k}", f"NDCG@{k}"]
    headers += [f"recent P@{k}", f"recent NDCG@{k}"]
    lines = [format_table(headers, rows)]
    for role, version in (("champion", outcome.champion), ("challenger", outcome.challenger)):
        lines.append(
            f"{role} v{version.pk} {version.algorithm}: "
            f"{described_hyperparameters(version.hyperparameters)}"
        )
    lines.append(
        f"RMSE, R², P@{k}, NDCG@{k}: each model's holdout benchmark at training time; recent: "
        f"both on the same held-out recent ratings ({ranking['viewers']:,} viewers ranked, "
        f"relevant = rating >= {format_value(ranking['relevant_min'])})"
    )
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Train a challenger, compare it with the champion on the same recent holdout, and decide."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--family",
            default=AUTO_FAMILY,
            choices=[AUTO_FAMILY, *FAMILIES],
            help="the challenger's family; auto: the champion's (with --search: every family)",
        )
        parser.add_argument(
            "--search",
            action="store_true",
            help="pick the family (with --family auto) and hyperparameters by a seeded search",
        )
        parser.add_argument(
            "--objective",
            choices=[o.value for o in Objective],
            default=Objective.RANKING.value,
            help="what --search optimises: NDCG@10 (ranking) or RMSE",
        )
        parser.add_argument(
            "--last-rounds", type=integer, help="train on original ratings plus the last K rounds"
        )
        parser.add_argument(
            "--since", type=datetime.fromisoformat, help="original ratings plus those since DATE"
        )
        parser.add_argument("--seed", type=integer, default=0)
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, **options):
        try:
            window = TrainingWindow(last_rounds=options["last_rounds"], since=options["since"])
            if options["run_async"]:
                kwargs = {
                    "search": options["search"],
                    "family": options["family"],
                    "objective": options["objective"],
                    "seed": options["seed"],
                    "last_rounds": options["last_rounds"],
                    "since": options["since"].isoformat() if options["since"] else None,
                }
                launch(self, tasks.retrain, kwargs=kwargs, purpose="retraining")
                return
            with model_work_with_progress("retraining", bar="retrain", options=options) as progress:
                outcome = model_version_retrain(
                    actor="command:retrain",
                    window=window,
                    search=options["search"],
                    family=options["family"],
                    objective=options["objective"],
                    seed=options["seed"],
                    progress=progress,
                )
        except (*MODEL_WORK_ERRORS, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"challenger v{outcome.challenger.pk} vs champion v{outcome.champion.pk} "
            f"on {outcome.challenger.comparison['holdout']['ratings']:,} held-out recent ratings"
        )
        self.stdout.write(models_table(outcome))
        self.stdout.write(comparison_table(outcome.comparisons))
        self.stdout.write(
            f"decision: {outcome.decision.value} ({outcome.reason}); v{outcome.challenger.pk} is now {outcome.challenger.status}"
        )
