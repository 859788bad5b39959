"""A simulation run's state gets its own columns: time_origin, the oracle's artifact,
sigma_calibrated and task_id used to live in SimulationRun.parameters beside what the user
asked for. Existing rows are carried over both ways."""

from django.db import migrations, models

STATE_COLUMNS = [
    "time_origin",
    "oracle_artifact_path",
    "oracle_artifact_sha256",
    "sigma_calibrated",
    "task_id",
]


def state_out_of_parameters(parameters: dict) -> tuple[dict, dict]:
    """(the parameters without the run state, the state as column values)."""
    inputs = dict(parameters or {})
    oracle = inputs.pop("oracle", None) or {}
    columns = {
        "time_origin": inputs.pop("time_origin", None),
        "oracle_artifact_path": oracle.get("path", ""),
        "oracle_artifact_sha256": oracle.get("sha256", ""),
        "sigma_calibrated": inputs.pop("sigma_calibrated", None),
        "task_id": inputs.pop("task_id", None) or "",
    }
    return inputs, columns


def state_into_parameters(parameters: dict, columns: dict) -> dict:
    """The parameters as they were before this migration, the state put back in."""
    merged = dict(parameters or {})
    if columns["time_origin"] is not None:
        merged["time_origin"] = columns["time_origin"]
    if columns["oracle_artifact_path"]:
        merged["oracle"] = {
            "path": columns["oracle_artifact_path"],
            "sha256": columns["oracle_artifact_sha256"],
        }
    if columns["sigma_calibrated"] is not None:
        merged["sigma_calibrated"] = columns["sigma_calibrated"]
    if columns["task_id"]:
        merged["task_id"] = columns["task_id"]
    return merged


def move_state_to_columns(apps, schema_editor) -> None:
    SimulationRun = apps.get_model("simulation", "SimulationRun")
    for run in SimulationRun.objects.all().iterator():
        run.parameters, columns = state_out_of_parameters(run.parameters)
        for name, value in columns.items():
            setattr(run, name, value)
        run.save(update_fields=["parameters", *STATE_COLUMNS])


def move_state_to_parameters(apps, schema_editor) -> None:
    SimulationRun = apps.get_model("simulation", "SimulationRun")
    for run in SimulationRun.objects.all().iterator():
        columns = {name: getattr(run, name) for name in STATE_COLUMNS}
        run.parameters = state_into_parameters(run.parameters, columns)
        run.save(update_fields=["parameters"])


class Migration(migrations.Migration):
    dependencies = [
        ("simulation", "0002_alter_simulationrun_options_simulationround_arrivals_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="simulationrun",
            name="oracle_artifact_path",
            field=models.CharField(
                blank=True, help_text="the oracle model's file (truth=oracle)", max_length=500
            ),
        ),
        migrations.AddField(
            model_name="simulationrun",
            name="oracle_artifact_sha256",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="simulationrun",
            name="sigma_calibrated",
            field=models.FloatField(
                blank=True,
                help_text="the rating noise calibrated on round 1 (sigma=auto)",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="simulationrun",
            name="task_id",
            field=models.CharField(blank=True, help_text="the queued task, if any", max_length=255),
        ),
        migrations.AddField(
            model_name="simulationrun",
            name="time_origin",
            field=models.BigIntegerField(
                blank=True,
                help_text="unix seconds where round 1 starts (after every rating)",
                null=True,
            ),
        ),
        migrations.RunPython(move_state_to_columns, move_state_to_parameters),
    ]
