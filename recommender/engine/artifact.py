"""Immutable, content-addressed model files.

A model is saved as an uncompressed .npz of numeric arrays only (np.savez with
allow_pickle=False), named after the sha256 of its bytes. Loading hashes the bytes first and
parses exactly the bytes it hashed (np.load with allow_pickle=False), so a file that was
changed, truncated or swapped is refused before anything in it is interpreted.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.engine.model import (
    ARRAY_FIELDS,
    FLAG_FIELDS,
    NUMBER_FIELDS,
    SCALAR_FIELDS,
    TEXT_FIELDS,
    TrainedModel,
)

logger = logging.getLogger(__name__)

# Version 2 added the family and its ranking fields, version 3 the share of the film bias a
# ranking family ranks by and the rating weight of its fold-in; an older file loads with the
# later fields' defaults (a version 1 file is an SVD; a version 2 ranking family had no film
# bias, so any share ranks alike, and weighed every interaction alike).
FORMAT_VERSION = 3
_READABLE_VERSIONS = {
    1: ("global_mean", "rating_min", "rating_max"),
    2: tuple(
        name for name in SCALAR_FIELDS if name not in ("ranked_film_bias", "fold_in_rating_weight")
    ),
    3: SCALAR_FIELDS,
}
_SCALAR_DTYPES = (
    {name: "f" for name in NUMBER_FIELDS}
    | {name: "b" for name in FLAG_FIELDS}
    | {name: "U" for name in TEXT_FIELDS}
)
_FORMAT_KEY = "format_version"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ID_FIELDS = ("viewer_ids", "film_ids")
# Bytes per read while hashing a stored file.
_HASH_BLOCK = 1 << 20


class ArtifactError(ValueError):
    """A model file cannot be used."""


class ArtifactIntegrityError(ArtifactError):
    """The file is missing or its bytes do not have the recorded sha256."""

    def __init__(self, path: Path, expected: str, actual: str | None, detail: str = ""):
        self.path, self.expected, self.actual = Path(path), expected, actual
        found = "the file is missing" if actual is None else f"found {actual}"
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"model artifact {self.path} failed its integrity check: expected sha256 "
            f"{expected}, {found}{extra}"
        )


class ArtifactFormatError(ArtifactError):
    """The bytes are the recorded ones but are not a model this code can read."""

    def __init__(self, path: Path, detail: str):
        self.path = Path(path)
        super().__init__(f"model artifact {self.path} is not a valid model file: {detail}")


@dataclass(frozen=True)
class SavedArtifact:
    """Where a model was stored and the sha256 of the file (also its name)."""

    path: Path
    sha256: str


def _arrays(model: TrainedModel) -> dict[str, np.ndarray]:
    arrays = {_FORMAT_KEY: np.array(FORMAT_VERSION, dtype=np.int64)}
    arrays.update({name: np.asarray(getattr(model, name)) for name in ARRAY_FIELDS})
    arrays.update(
        {name: np.array(getattr(model, name), dtype=np.float64) for name in NUMBER_FIELDS}
    )
    arrays.update({name: np.array(getattr(model, name), dtype=bool) for name in FLAG_FIELDS})
    # A fixed-width unicode array: read back with allow_pickle=False like every other member.
    arrays.update({name: np.array(str(getattr(model, name))) for name in TEXT_FIELDS})
    return arrays


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: TrainedModel, directory: Path) -> SavedArtifact:
    """Write `model` to `<directory>/<sha256>.npz` (read-only) and return its path and hash.

    The file is written under a temporary name in the same directory, synced, then renamed
    into place in one atomic step, so no reader ever sees half a model. Saving an identical
    model again keeps the file already there (same bytes, same name). Creates the directory
    if needed; raises OSError when it cannot be written.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".model-", suffix=".npz.partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            # np.savez writes every member with the same fixed zip timestamp, so equal models
            # give equal bytes and therefore the same content address.
            np.savez(handle, allow_pickle=False, **_arrays(model))
            handle.flush()
            os.fsync(handle.fileno())
        digest = _file_sha256(Path(temporary))
        target = directory / f"{digest}.npz"
        if target.exists() and _file_sha256(target) == digest:
            os.unlink(temporary)
            logger.info("model artifact %s already stored; kept the existing file", target)
        else:
            if target.exists():
                logger.warning("replacing %s: its bytes did not match its name", target)
            os.chmod(temporary, 0o444)
            os.replace(temporary, target)
            _sync_directory(directory)
            logger.info("saved model artifact %s (%s)", target, model)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return SavedArtifact(path=target, sha256=digest)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_model(path: Path, *, sha256: str) -> TrainedModel:
    """Read a model saved by `save_model`, after checking that its bytes have `sha256`.

    Raises ArtifactIntegrityError (missing file or wrong hash; names the path, the expected
    and the actual hash) or ArtifactFormatError (right bytes, unreadable content).
    """
    path = Path(path)
    expected = sha256.lower() if isinstance(sha256, str) else sha256
    if not isinstance(expected, str) or not _SHA256.fullmatch(expected):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(path, expected, None) from None
    except OSError as exc:
        raise ArtifactIntegrityError(path, expected, None, f"unreadable: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ArtifactIntegrityError(path, expected, actual)

    arrays = _read_members(path, data)
    scalars = _READABLE_VERSIONS[int(arrays.pop(_FORMAT_KEY))]
    for name in ARRAY_FIELDS:
        wanted_dtype = np.int64 if name in _ID_FIELDS else np.float64
        if arrays[name].dtype != wanted_dtype:
            raise ArtifactFormatError(
                path, f"{name} has dtype {arrays[name].dtype}, expected {np.dtype(wanted_dtype)}"
            )
    for name in scalars:
        if arrays[name].shape != () or arrays[name].dtype.kind != _SCALAR_DTYPES[name]:
            raise ArtifactFormatError(
                path,
                f"{name} must be a scalar of kind {_SCALAR_DTYPES[name]!r}, got shape "
                f"{arrays[name].shape} and dtype {arrays[name].dtype}",
            )
    try:
        return TrainedModel(
            **{name: arrays[name] for name in ARRAY_FIELDS},
            **{name: arrays[name].item() for name in scalars},
        )
    except ValueError as exc:
        raise ArtifactFormatError(path, str(exc)) from exc


def _read_members(path: Path, data: bytes) -> dict[str, np.ndarray]:
    """Every member of the archive, after checking its format version and member names."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = set(archive.files)
            version = archive[_FORMAT_KEY] if _FORMAT_KEY in names else None
            if (
                version is None
                or version.shape != ()
                or version.dtype.kind not in "iu"
                or int(version) not in _READABLE_VERSIONS
            ):
                raise ArtifactFormatError(
                    path,
                    f"format version {version!r} is not one of the supported "
                    f"{sorted(_READABLE_VERSIONS)}",
                )
            wanted = {_FORMAT_KEY, *ARRAY_FIELDS, *_READABLE_VERSIONS[int(version)]}
            if names != wanted:
                raise ArtifactFormatError(
                    path, f"expected arrays {sorted(wanted)}, found {sorted(names)}"
                )
            return {name: archive[name] for name in wanted}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ArtifactFormatError):
            raise
        raise ArtifactFormatError(path, f"cannot read the archive: {exc}") from exc
