"""Migration 0003 moves a run's state out of SimulationRun.parameters into its own columns,
and puts it back when reversed. Rows with the old shape are written directly (the JSON field
takes any keys), then the migration's functions are applied to them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from simulation.models import SimulationRun

pytestmark = pytest.mark.django_db

migration = importlib.import_module("simulation.migrations.0003_run_state_columns")

ASKED = {"rounds": 3, "seed": 4, "truth": "oracle", "shift": {"Action": 0.9}, "sigma": "auto"}
STATE = {
    "time_origin": 1_700_000_001,
    "oracle": {"path": "/artifacts/ab/abcd.npz", "sha256": "ab" * 32},
    "sigma_calibrated": 0.6173,
    "task_id": "3f1c-task",
}


def old_shape_run(parameters: dict) -> SimulationRun:
    return SimulationRun.objects.create(seed=4, parameters=parameters)


def test_the_state_moves_to_its_columns_and_back():
    full = old_shape_run({**ASKED, **STATE})
    bare = old_shape_run(dict(ASKED))  # queued before any state was picked up

    migration.move_state_to_columns(apps, None)

    full.refresh_from_db()
    bare.refresh_from_db()
    assert full.parameters == ASKED and bare.parameters == ASKED
    assert (
        full.time_origin,
        full.oracle_artifact_path,
        full.oracle_artifact_sha256,
        full.sigma_calibrated,
        full.task_id,
    ) == (1_700_000_001, "/artifacts/ab/abcd.npz", "ab" * 32, 0.6173, "3f1c-task")
    assert (
        bare.time_origin,
        bare.oracle_artifact_path,
        bare.oracle_artifact_sha256,
        bare.sigma_calibrated,
        bare.task_id,
    ) == (None, "", "", None, "")

    migration.move_state_to_parameters(apps, None)

    full.refresh_from_db()
    bare.refresh_from_db()
    assert full.parameters == {**ASKED, **STATE}
    assert bare.parameters == ASKED


def test_a_run_with_only_part_of_the_state_keeps_the_rest_empty():
    run = old_shape_run({**ASKED, "time_origin": 5, "task_id": "t-1"})

    migration.move_state_to_columns(apps, None)

    run.refresh_from_db()
    assert run.parameters == ASKED
    assert (run.time_origin, run.task_id, run.sigma_calibrated, run.oracle_artifact_path) == (
        5,
        "t-1",
        None,
        "",
    )


def test_the_pure_halves_invert_each_other():
    inputs, columns = migration.state_out_of_parameters({**ASKED, **STATE})

    assert inputs == ASKED
    assert set(columns) == set(migration.STATE_COLUMNS)
    assert migration.state_into_parameters(inputs, columns) == {**ASKED, **STATE}
