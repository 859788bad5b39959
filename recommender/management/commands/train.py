import argparse
from dataclasses import fields

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.engine.families import FAMILIES, Family, family_named
from recommender.engine.model import SVDConfig
from recommender.engine.search import Objective
from recommender.management.arguments import integer, typed
from recommender.management.jobs import add_async_argument, launch, model_work_with_progress
from recommender.management.tables import described_hyperparameters, format_table, format_value
from recommender.services.registry import (
    ModelSearch,
    TrainingError,
    family_config,
    model_version_train,
)

# The SVD hyperparameters with an option of their own (--factors, ...), kept from before there
# were families; every family's hyperparameters are reachable with --param NAME=VALUE.
SVD_OPTIONS = {"n_factors": "factors", "n_epochs": "epochs", "lr_all": "lr", "reg_all": "reg"}


class Command(BaseCommand):
    help = (
        "Train a model family (the MODEL_FAMILY setting by default) on all ratings, benchmark "
        "it on a seeded holdout and register it; or, with --search, the best family and "
        "hyperparameters by a seeded model search."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--family", help=f"one of {', '.join(FAMILIES)} (default: MODEL_FAMILY)"
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a hyperparameter of the family (repeatable), e.g. --param factors=32",
        )
        defaults = SVDConfig()
        for field, option in SVD_OPTIONS.items():
            parser.add_argument(
                f"--{option}", type=typed(getattr(defaults, field)), help=f"svd: {field}"
            )
        parser.add_argument("--seed", type=integer, default=0, help="split and training seed")
        parser.add_argument(
            "--search", action="store_true", help="search families and their hyperparameters"
        )
        parser.add_argument(
            "--objective", choices=[o.value for o in Objective], default=Objective.RANKING.value
        )
        parser.add_argument(
            "--families", help="with --search: comma-separated families (default: all)"
        )
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, **options):
        try:
            request = training_request(options)
            if options["run_async"]:
                kwargs = {**request, "search": request["search"] and request["search"].as_dict()}
                launch(self, tasks.train, kwargs=kwargs, purpose="training")
                return
            with model_work_with_progress("training", bar="train", options=options) as progress:
                version = model_version_train(actor="command:train", progress=progress, **request)
        except (TrainingError, ValueError, argparse.ArgumentTypeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(training_summary(version))


def training_request(options: dict) -> dict:
    """model_version_train's family, config (a mapping of hyperparameters) and search from
    the options."""
    if options["search"]:
        given = [name for name in ("family", "factors", "epochs", "lr", "reg") if options[name]]
        if given or options["param"]:
            raise ValueError(
                "--search picks the family and hyperparameters: choose families with "
                "--families, not " + ", ".join(f"--{name}" for name in given or ["param"])
            )
        families = options["families"] or ",".join(FAMILIES)
        search = ModelSearch(
            families=tuple(name.strip() for name in families.split(",") if name.strip()),
            objective=options["objective"],
            seed=options["seed"],
        )
        return {"family": None, "config": None, "search": search}
    if options["families"]:
        raise ValueError("--families chooses what --search searches; use --family without it")
    family = family_named(options["family"] or settings.RECOMMENDER["MODEL_FAMILY"])
    values = {**hyperparameters(family, options["param"]), "seed": options["seed"]}
    for field, option in SVD_OPTIONS.items():
        if options[option] is not None:
            if family.name != "svd":
                raise ValueError(
                    f"--{option} sets svd's {field}; for {family.name} use --param NAME=VALUE "
                    f"({', '.join(f.name for f in fields(family.config_type))})"
                )
            values[field] = options[option]
    family_config(family, values)  # refuse a bad value before any work starts
    return {"family": family.name, "config": values, "search": None}


def hyperparameters(family: Family, params: list[str]) -> dict:
    """--param NAME=VALUE options as the family's typed hyperparameter values."""
    defaults = family.config()
    known = [f.name for f in fields(family.config_type)]
    values = {}
    for param in params:
        name, equals, text = param.partition("=")
        name = name.strip()
        if not equals or name not in known:
            raise ValueError(
                f"--param {param!r}: {family.name} has no hyperparameter {name!r} "
                f"(its hyperparameters: {', '.join(known)})"
            )
        try:
            values[name] = typed(getattr(defaults, name))(text.strip())
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"--param {param!r}: {exc} ({family.name}'s {name})") from None
    return values


def training_summary(version) -> str:
    """What a training measured on its holdout; a figure the holdout was too small for reads
    "insufficient data", never a number."""
    metrics, figure = version.metrics, format_value
    overall, k = metrics["overall"], metrics.get("k", 10)
    rows = [
        (genre, score["n"], score["rmse"], score["r2"])
        for genre, score in sorted(metrics["per_genre"].items(), key=lambda item: -item[1]["n"])
    ]
    window = version.training_window
    searched = (
        f" (chosen by a model search, objective {window['search_objective']})"
        if window.get("search_objective")
        else ""
    )
    return "\n".join(
        [
            f"model v{version.pk} ({version.status}): family {version.algorithm}{searched}; "
            f"hyperparameters {described_hyperparameters(version.hyperparameters)}",
            f"holdout RMSE {figure(overall['rmse'])}, R² {figure(overall['r2'])} on "
            f"{version.holdout_rows:,} ratings; trained on {version.training_rows:,} in "
            f"{version.trained_seconds:.1f} s",
            f"ranking on the holdout: precision@{k} {figure(metrics['precision_at_k'])}, "
            f"recall@{k} {figure(metrics['recall_at_k'])}, NDCG@{k} {figure(metrics['ndcg_at_k'])}",
            format_table(["genre", "holdout ratings", "RMSE", "R²"], rows),
        ]
    )
