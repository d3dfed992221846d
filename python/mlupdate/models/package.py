"""`.mlpackage` folders: where the model spec sits inside one.

A package is a folder with `Manifest.json` naming its items and the root model; the root model is a
serialized `Model` spec at `Data/<item path>` (coremltools writes `Data/com.apple.CoreML/model.mlmodel`). Any
spec can live in a package: a neural network or a k-NN is as updatable there as in a `.mlmodel` file, while an
ML Program keeps its weights beside the spec (`weights/weight.bin`) and cannot be updated on a device.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any

from mlupdate.errors import ModelLoadError

MANIFEST = "Manifest.json"
DATA = "Data"
_FIX_COPY = "copy the whole .mlpackage folder again, or save the model again with coremltools (model.save)"


def package_model_file(package: Path) -> Path:
    """The root model spec file inside `package`, refusing a package that has none."""
    manifest_path = package / MANIFEST
    manifest = _manifest(manifest_path)
    entries = manifest.get("itemInfoEntries")
    root_id = manifest.get("rootModelIdentifier")
    if not isinstance(entries, dict) or not isinstance(root_id, str) or root_id not in entries:
        raise ModelLoadError(
            "the package has no model inside: Manifest.json names no root model (rootModelIdentifier)",
            where=str(manifest_path),
            fix=_FIX_COPY,
        )
    entry = entries[root_id]
    relative = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(relative, str) or not relative or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise ModelLoadError(
            f"the root model entry {root_id!r} has no usable path (found {relative!r})",
            where=str(manifest_path),
            fix=_FIX_COPY,
        )
    model_file = package / DATA / relative
    if not model_file.is_file():
        raise ModelLoadError(
            f"the package has no model inside: Manifest.json names {DATA}/{relative}, which is missing",
            where=str(package),
            fix=_FIX_COPY,
        )
    return model_file


def _manifest(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelLoadError(
            "the package has no model inside: Manifest.json is missing (an empty or half-copied .mlpackage)",
            where=str(path.parent),
            fix=_FIX_COPY,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"cannot read the package manifest: {exc}", where=str(path), fix=_FIX_COPY) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(
            f"the package manifest is not valid JSON (line {exc.lineno}: {exc.msg})", where=str(path), fix=_FIX_COPY
        ) from None
    if not isinstance(document, dict):
        raise ModelLoadError("the package manifest is not a JSON object", where=str(path), fix=_FIX_COPY)
    return document


ROOT_ITEM = "com.apple.CoreML/model.mlmodel"


def write_package(spec_bytes: bytes, package: Path) -> Path:
    """A new `.mlpackage` holding the spec, laid out as coremltools writes one; an existing folder is refused.

    Written into a hidden sibling folder and renamed into place, so an interrupted write leaves no half package.
    """
    if package.exists():
        raise ModelLoadError(
            "refusing to replace an existing package", where=str(package), fix="write the model to a new path"
        )
    staging = package.with_name(f".{package.name}.{secrets.token_hex(4)}")
    try:
        (staging / DATA / ROOT_ITEM).parent.mkdir(parents=True)
        (staging / DATA / ROOT_ITEM).write_bytes(spec_bytes)
        identifier = secrets.token_hex(16)
        manifest = {
            "fileFormatVersion": "1.0.0",
            "itemInfoEntries": {
                identifier: {
                    "author": "com.apple.CoreML",
                    "description": "CoreML Model Specification",
                    "name": "model.mlmodel",
                    "path": ROOT_ITEM,
                }
            },
            "rootModelIdentifier": identifier,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=4), encoding="utf-8")
        staging.rename(package)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return package
