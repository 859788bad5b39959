"""W&B runs are written offline under the configured folder and hold the logged metrics."""

import struct
import time
from pathlib import Path

import pytest
from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2

from recommender.engine.model import SVDConfig
from recommender.services.registry import model_version_train
from recommender.tracking import flatten

pytestmark = pytest.mark.django_db


def wandb_records(path: Path):
    """Records of an offline run file: W&B's LevelDB-style log (7-byte header, 32 KiB blocks,
    chunks of crc32 / length / type) holding protobuf Records."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    position, pending = 7, b""
    while position + 7 <= len(data):
        if 32768 - position % 32768 < 7:
            position += 32768 - position % 32768
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + 7])
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 0 and length == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def logged_history(directory: Path, diagnosis: str = "") -> dict[str, float]:
    files = list(directory.glob("wandb/offline-run-*/run-*.wandb"))
    listing = (
        sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))
        if directory.exists()
        else []
    )
    assert len(files) == 1, f"run files {files}; folder {listing}; {diagnosis}"
    # wandb-core writes the file from its own process and may still be writing when
    # run.finish() returns: wait for the run's exit record, which comes last.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            kinds = {record.WhichOneof("record_type") for record in wandb_records(files[0])}
        except DecodeError:  # caught it mid-write
            kinds = set()
        if "exit" in kinds:
            break
        time.sleep(0.1)
    values = {}
    for record in wandb_records(files[0]):
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                values["/".join(item.nested_key) or item.key] = float(item.value_json)
    return values


@pytest.fixture
def offline_tracking(settings, tmp_path):
    settings.WANDB = {**settings.WANDB, "MODE": "offline", "DIR": tmp_path / "runs"}
    return tmp_path / "runs"


def test_a_training_is_written_as_an_offline_run_with_its_metrics(
    bundled_subset, artifact_dir, offline_tracking
):
    version = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=1)
    )

    history = logged_history(offline_tracking)
    assert history["overall/rmse"] == pytest.approx(version.rmse)
    assert history["per_genre/Drama/r2"] == pytest.approx(
        version.metrics["per_genre"]["Drama"]["r2"]
    )
    assert history["training_rows"] == version.training_rows


def test_tracking_that_fails_never_fails_the_training(
    bundled_subset, artifact_dir, settings, tmp_path, caplog
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.WANDB = {**settings.WANDB, "MODE": "offline", "DIR": blocker}

    version = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=1)
    )

    assert version.status == "champion"
    assert "W&B tracking of train 'model-v" in caplog.text


def test_flatten_keeps_numbers_and_drops_text_and_missing_values():
    assert flatten({"a": {"b": 1.5, "c": None, "d": "x"}, "e": True, "f": 2}) == {
        "a/b": 1.5,
        "e": 1.0,
        "f": 2,
    }
