"""Reading a job bundle: schema, version, path safety and every hash first, then lazy access to examples."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mlupdate import limits
from mlupdate.bundle import npy
from mlupdate.bundle.integrity import (
    check_root,
    read_json_file,
    read_regular,
    require_folder,
    require_listed,
    schema_problem,
    verify_files,
)
from mlupdate.bundle.kinds import expect_job_bundle
from mlupdate.bundle.paths import resolve_entry
from mlupdate.bundle.schedule import Schedule, check_schedule_events, parse_schedule
from mlupdate.bundle.schema import label_list, parse_json, validate
from mlupdate.contract import JOB_MANIFEST
from mlupdate.data.examples import NUMPY_DTYPES, SetFeature
from mlupdate.errors import SchemaError

_PNG_MODES = {"GRAYSCALE": "L", "RGB": "RGB", "BGR": "RGB"}


@dataclass(frozen=True)
class ExampleSetView:
    """The examples of a verified job bundle: descriptions now, values loaded on demand."""

    root: Path
    count: int
    features: tuple[SetFeature, ...]
    paths: dict[str, str]
    where: str

    def feature(self, name: str) -> SetFeature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise SchemaError(f"no feature {name!r} (features: {[f.name for f in self.features]})", where=self.where)

    def load(self, name: str) -> np.ndarray | list[Any]:
        """Images as uint8 [N, C, H, W] in the model's channel order; multiArrays [N, *shape]; labels a list."""
        feature = self.feature(name)
        if feature.kind == "image":
            return np.stack(list(self.iter_images(name)))
        entry = self.paths[name]
        path = resolve_entry(self.root, entry, where=self.where)
        if feature.kind == "multiArray":
            return npy.load(path, where=str(path))
        return _load_labels(path, feature, self.count)

    def iter_images(self, name: str) -> Iterator[np.ndarray]:
        """One image at a time as uint8 [C, H, W] in the model's channel order (BGR models: B, G, R)."""
        feature = self.feature(name)
        if feature.kind != "image":
            raise SchemaError(f"feature {name!r} is a {feature.kind}, not an image", where=self.where)
        for index in range(self.count):
            entry = f"{self.paths[name]}/{index:06d}.png"
            yield _decode_png(resolve_entry(self.root, entry, where=self.where), feature)


def _decode_png(path: Path, feature: SetFeature) -> np.ndarray:
    mode = _PNG_MODES[feature.color_space or "RGB"]
    try:
        with Image.open(io.BytesIO(path.read_bytes()), formats=["PNG"]) as image:
            # Size and mode come from the header: check them before decoding what a hostile header declares.
            found = (image.mode, image.width, image.height)
            if found != (mode, feature.width, feature.height):
                raise SchemaError(
                    f"PNG is {found[0]} {found[1]}x{found[2]}, the manifest says {mode} "
                    f"{feature.width}x{feature.height}",
                    where=str(path),
                    fix="images must already be at the model's exact size and colour space; rebuild the bundle",
                )
            image.load()
            pixels = np.asarray(image)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SchemaError(f"not a readable PNG: {exc}", where=str(path), fix="rebuild the bundle") from None
    if pixels.ndim == 2:
        return pixels[np.newaxis].copy()
    chw = pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(chw[::-1] if feature.color_space == "BGR" else chw)


def _load_labels(path: Path, feature: SetFeature, count: int) -> list[Any]:
    values = label_list(read_json_file(path, limit=limits.LABELS_BYTES, where=str(path)), feature.kind, count)
    if values is None:
        raise SchemaError(
            f"expected a JSON list of {count} {feature.kind} values",
            where=str(path),
            fix="rebuild the bundle",
        )
    return values


@dataclass(frozen=True)
class JobBundle:
    """A job bundle whose schema, version, paths and hashes have all been checked."""

    path: Path
    manifest: dict[str, Any]
    training: ExampleSetView
    probe: ExampleSetView | None

    @property
    def job_id(self) -> str:
        return str(self.manifest["job_id"])

    @property
    def model_path(self) -> Path:
        return self.path / str(self.manifest["model"]["path"])

    @property
    def parameters(self) -> dict[str, float | int | bool]:
        return dict(self.manifest["parameters"])

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(self.manifest["events"])

    @property
    def repeat(self) -> int:
        return int(self.manifest["repeat"])

    @property
    def deadline_seconds(self) -> float:
        return float(self.manifest["deadline_seconds"])

    @property
    def compute_units(self) -> str:
        return str(self.manifest["compute_units"])

    @property
    def case(self) -> str | None:
        """The parity case whose tolerances apply (None: chosen by the optimizer, see parity.tolerances)."""
        case = self.manifest.get("case")
        return str(case) if case is not None else None

    @property
    def schedule(self) -> Schedule:
        """Learning rates set at epoch boundaries during the task (empty: the learning rate stays)."""
        return parse_schedule(self.manifest.get("schedule"), where=str(self.path / JOB_MANIFEST))


def read_job(path: str | Path) -> JobBundle:
    """Read and verify a job bundle folder; refuse it (a BundleError naming the entry) if anything is off."""
    root = Path(path)
    manifest = read_job_manifest(root)
    where = str(root / JOB_MANIFEST)
    files: dict[str, str] = manifest["files"]
    verify_files(root, files, exempt=(JOB_MANIFEST,), where=where)
    _check_model(manifest["model"], files, where)
    check_schedule_events(parse_schedule(manifest.get("schedule"), where=where), manifest["events"], where=where)
    training = _view(root, manifest["training"], files, "training", where)
    probe = _view(root, manifest["probe"], files, "probe", where) if manifest["probe"] is not None else None
    return JobBundle(root, manifest, training, probe)


def read_job_manifest(path: str | Path) -> dict[str, Any]:
    """A job bundle's manifest, checked against its schema (its job_id is a safe folder name), without hashing
    the files it lists: for naming things after the job before `read_job` verifies it."""
    root = Path(path)
    expect_job_bundle(root)
    check_root(root)
    where = str(root / JOB_MANIFEST)
    manifest: dict[str, Any] = validate(
        parse_json(read_regular(root, JOB_MANIFEST, where=where, limit=limits.MANIFEST_BYTES), where=where),
        "job",
        where=where,
    )
    return manifest


def _check_model(model: dict[str, Any], files: dict[str, str], where: str) -> None:
    if model["format"] == "mlmodel":
        require_listed(files, model["path"], field="model.path", where=where)
        if model["sha256"] != files[model["path"]]:
            raise schema_problem("model.sha256 differs from the model's hash in `files`", field="model", where=where)
    else:
        require_folder(files, model["path"], field="model.path", where=where)


def _view(root: Path, entry: dict[str, Any], files: dict[str, str], role: str, where: str) -> ExampleSetView:
    count = int(entry["count"])
    features: list[SetFeature] = []
    paths: dict[str, str] = {}
    for index, raw in enumerate(entry["features"]):
        field = f"{role}.features[{index}]"
        feature = SetFeature(
            name=raw["name"],
            kind=raw["type"],
            shape=tuple(raw.get("shape", ())),
            dtype=raw.get("dtype"),
            width=raw.get("width"),
            height=raw.get("height"),
            color_space=raw.get("color_space"),
        )
        if feature.name in paths:
            raise schema_problem(f"feature {feature.name!r} appears twice", field=field, where=where)
        if raw["path"] in paths.values():
            raise schema_problem(f"path {raw['path']!r} is used twice", field=f"{field}.path", where=where)
        _check_feature_files(root, feature, raw["path"], count, files, f"{field}.path", where)
        features.append(feature)
        paths[feature.name] = raw["path"]
    return ExampleSetView(root, count, tuple(features), paths, where)


def _check_feature_files(
    root: Path, feature: SetFeature, entry: str, count: int, files: dict[str, str], field: str, where: str
) -> None:
    if feature.kind == "image":
        inside = require_folder(files, entry, field=field, where=where)
        # Compare the count first: a corrupt `count` (say 10**20) must not make us list that many names.
        if len(inside) != count or inside != [f"{entry}/{index:06d}.png" for index in range(count)]:
            raise schema_problem(
                f"folder {entry!r} must hold exactly 000000.png … {count - 1:06d}.png ({count} files), "
                f"found {len(inside)}",
                field=field,
                where=where,
            )
        return
    require_listed(files, entry, field=field, where=where)
    if feature.kind in ("string", "int64"):
        _load_labels(root / entry, feature, count)
    else:
        path = root / entry
        dtype, shape = npy.read_header(path, where=str(path))
        wanted = (NUMPY_DTYPES[feature.dtype or "float32"], (count, *feature.shape))
        if (dtype, shape) != wanted:
            raise schema_problem(
                f"{entry!r} holds {dtype.str} {list(shape)}, the manifest says {wanted[0].str} {list(wanted[1])}",
                field=field,
                where=where,
            )
