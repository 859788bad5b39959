"""`manage.py train` prints what it measured, and says so where the data was too small."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from recommender.models import ModelVersion
from tests.recommender.fixtures import write_movielens


def test_training_on_a_tiny_data_set_prints_insufficient_data_instead_of_crashing(
    db, tmp_path, artifact_dir
):
    call_command("import_movielens", str(write_movielens(tmp_path / "tiny")), verbosity=0)
    out = StringIO()

    call_command("train", "--no-progress", "--factors", "2", "--epochs", "2", stdout=out)

    printed = out.getvalue()
    assert "holdout RMSE insufficient data, R² insufficient data" in printed
    [version] = ModelVersion.objects.all()
    assert version.status == ModelVersion.Status.CHAMPION
    assert version.metrics["overall"]["r2"] is None
    assert f"model v{version.pk} (champion)" in printed
