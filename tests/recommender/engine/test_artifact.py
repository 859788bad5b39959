"""Model files: content-addressed, immutable, verified before they are read, never pickled."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import stat
import zipfile

import numpy as np
import pytest

from recommender.engine.artifact import (
    FORMAT_VERSION,
    ArtifactFormatError,
    ArtifactIntegrityError,
    load_model,
    save_model,
)
from recommender.engine.model import ARRAY_FIELDS
from tests.recommender.engine.test_model import hand_model


def test_a_saved_model_loads_back_equal(tmp_path):
    model = hand_model()

    saved = save_model(model, tmp_path / "artifacts")
    loaded = load_model(saved.path, sha256=saved.sha256)

    assert loaded == model
    assert (
        loaded.predict([10, 20], [300, 100]).tolist()
        == model.predict([10, 20], [300, 100]).tolist()
    )


def test_the_file_is_named_by_its_sha256_and_read_only(tmp_path):
    saved = save_model(hand_model(), tmp_path)

    assert saved.path == tmp_path.resolve() / f"{saved.sha256}.npz"
    assert hashlib.sha256(saved.path.read_bytes()).hexdigest() == saved.sha256
    assert stat.S_IMODE(saved.path.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == [saved.path.name], (
        "no temporary file left behind"
    )


def test_saving_the_same_model_twice_keeps_one_file(tmp_path):
    first = save_model(hand_model(), tmp_path)
    again = save_model(hand_model(), tmp_path)
    other = save_model(dataclasses.replace(hand_model(), global_mean=3.25), tmp_path)

    assert again == first
    assert other.sha256 != first.sha256
    assert len(list(tmp_path.iterdir())) == 2


def test_the_file_holds_only_plain_arrays_and_a_format_version(tmp_path):
    saved = save_model(hand_model(), tmp_path)

    with np.load(saved.path, allow_pickle=False) as archive:
        assert int(archive["format_version"]) == FORMAT_VERSION == 3
        kinds = {name: archive[name].dtype.kind for name in archive.files}
    assert kinds.pop("family") == "U" and kinds.pop("predicts_ratings") == "b"
    assert set(kinds.values()) <= {"i", "f"}


def test_a_ranking_familys_fields_survive_the_round_trip(tmp_path):
    model = dataclasses.replace(
        hand_model(),
        family="als",
        predicts_ratings=False,
        fold_in_alpha=2.0,
        fold_in_reg=0.1,
        score_scale=0.25,
        ranked_film_bias=0.02,
        fold_in_rating_weight=0.5,
    )

    saved = save_model(model, tmp_path)
    loaded = load_model(saved.path, sha256=saved.sha256)

    assert loaded == model
    assert (loaded.family, loaded.predicts_ratings, loaded.score_scale) == ("als", False, 0.25)
    assert (loaded.ranked_film_bias, loaded.fold_in_rating_weight) == (0.02, 0.5)
    assert loaded != hand_model()
    assert loaded != dataclasses.replace(model, ranked_film_bias=0.5)


def test_a_version_2_file_loads_with_its_whole_film_bias_ranked(tmp_path):
    version_3 = {"ranked_film_bias", "fold_in_rating_weight"}
    arrays = {name: value for name, value in valid_arrays().items() if name not in version_3}
    digest = write_npz(tmp_path / "v2.npz", **{**arrays, "format_version": np.array(2)})

    loaded = load_model(tmp_path / "v2.npz", sha256=digest)

    assert loaded == hand_model()
    assert loaded.ranked_film_bias == 1.0 and loaded.ranking_offset is None
    assert loaded.fold_in_rating_weight == 0.0


def test_a_version_1_file_loads_as_an_svd(tmp_path):
    arrays = {name: value for name, value in valid_arrays().items() if name in VERSION_1}
    digest = write_npz(tmp_path / "v1.npz", **{**arrays, "format_version": np.array(1)})

    loaded = load_model(tmp_path / "v1.npz", sha256=digest)

    assert loaded == hand_model()
    assert (loaded.family, loaded.predicts_ratings) == ("svd", True)


def test_one_changed_byte_is_refused_naming_the_path_and_both_hashes(tmp_path):
    saved = save_model(hand_model(), tmp_path)
    data = bytearray(saved.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    saved.path.chmod(0o644)
    saved.path.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()

    with pytest.raises(ArtifactIntegrityError) as caught:
        load_model(saved.path, sha256=saved.sha256)

    message = str(caught.value)
    assert str(saved.path) in message and saved.sha256 in message and actual in message
    assert caught.value.actual == actual


def test_a_missing_file_is_an_integrity_error(tmp_path):
    path = tmp_path / f"{'0' * 64}.npz"

    with pytest.raises(ArtifactIntegrityError, match="the file is missing"):
        load_model(path, sha256="0" * 64)


def test_a_malformed_hash_is_refused_before_reading():
    with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal digits, got 'abc'"):
        load_model("anything.npz", sha256="abc")


def write_npz(path, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def write_object_array_npz(path) -> str:
    """A .npz whose film_ids member declares an object (pickled) array. Only the header is
    written, followed by junk: nothing is pickled, and the loader must refuse it unread."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": (3,)}
    )
    buffer = io.BytesIO()
    np.savez(
        buffer, allow_pickle=False, **{k: v for k, v in valid_arrays().items() if k != "film_ids"}
    )
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("film_ids.npy", header.getvalue() + b"junk that is never unpickled")
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


VERSION_1 = {"format_version", *ARRAY_FIELDS, "global_mean", "rating_min", "rating_max"}


def valid_arrays():
    model = hand_model()
    arrays = {name: np.asarray(getattr(model, name)) for name in ARRAY_FIELDS}
    arrays.update(global_mean=np.array(3.0), rating_min=np.array(0.5), rating_max=np.array(5.0))
    arrays.update(fold_in_alpha=np.array(0.0), fold_in_reg=np.array(0.0), score_scale=np.array(1.0))
    arrays.update(family=np.array("svd"), predicts_ratings=np.array(True))
    arrays.update(ranked_film_bias=np.array(1.0), fold_in_rating_weight=np.array(0.0))
    return {"format_version": np.array(FORMAT_VERSION), **arrays}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"format_version": np.array(99)},
            "format version .* is not one of the supported \\[1, 2, 3\\]",
        ),
        ({"family": np.array(3.0)}, "family must be a scalar of kind 'U'"),
        ({"film_bias": np.zeros(2)}, r"film_bias has shape \(2,\), expected \(3,\)"),
        ({"viewer_ids": np.array([10.0, 20.0])}, "viewer_ids has dtype float64, expected int64"),
        ({"extra": np.zeros(1)}, "expected arrays .* found"),
    ],
)
def test_a_file_with_the_right_hash_but_the_wrong_content_is_refused(tmp_path, change, message):
    path = tmp_path / "model.npz"
    digest = write_npz(path, **{**valid_arrays(), **change})

    with pytest.raises(ArtifactFormatError, match=message):
        load_model(path, sha256=digest)


def test_an_object_array_is_refused_without_unpickling_it(tmp_path):
    path = tmp_path / "model.npz"
    digest = write_object_array_npz(path)

    with pytest.raises(
        ArtifactFormatError, match="cannot read the archive: Object arrays cannot be loaded"
    ):
        load_model(path, sha256=digest)


def test_a_file_that_is_not_a_zip_is_a_format_error(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"not a zip file")

    with pytest.raises(ArtifactFormatError, match="cannot read the archive"):
        load_model(path, sha256=hashlib.sha256(b"not a zip file").hexdigest())
    assert not zipfile.is_zipfile(path)


def test_saving_into_a_path_that_is_a_file_raises_os_error(tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("occupied")

    with pytest.raises(OSError):
        save_model(hand_model(), occupied)
