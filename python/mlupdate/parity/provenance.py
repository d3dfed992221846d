"""Provenance recorded in every report: device, OS, Xcode, model and bundle hashes, git revision."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlupdate.bundle.hashing import sha256_file
from mlupdate.contract import RESULTS_MANIFEST, DeviceInfo, Producer
from mlupdate.parity.semantics_info import os_label
from mlupdate.parity.verdict import NO_PRODUCER

log = logging.getLogger(__name__)

GIT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Provenance:
    job_id: str
    producer: str
    device: str
    device_model: str
    os: str
    is_simulator: bool
    xcode: str | None
    model_sha256: str | None
    bundle_sha256: str | None  # sha256 of the device's results.json (which hashes every other file)
    reference_sha256: str | None
    git_revision: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def properties(self) -> dict[str, str]:
        """Flat string properties for JUnit XML; unknown values are spelled out, never left empty."""
        return {key: "unknown" if value is None else str(value) for key, value in self.to_dict().items()}


def model_sha256(path: Path | None) -> str | None:
    """sha256 of a `.mlmodel` file, or of the sorted (relative path, sha256) list of a `.mlmodelc` folder."""
    if path is None or not path.exists():
        return None
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def git_revision(cwd: Path) -> str | None:
    """The checkout's HEAD revision (with "-dirty" when it has changes), None outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("no git revision for %s: %s", cwd, exc)
        return None
    return head + ("-dirty" if status.strip() else "")


def provenance(
    *,
    job_id: str,
    producer: Producer | None,
    device: DeviceInfo,
    model_path: Path | None,
    results_path: Path | None,
    reference_results_path: Path | None = None,
    xcode: str | None = None,
    revision: str | None = None,
) -> Provenance:
    return Provenance(
        job_id=job_id,
        producer=f"{producer.name} {producer.version}".strip() if producer else NO_PRODUCER,
        device=device.name,
        device_model=device.model,
        os=os_label(device),
        is_simulator=device.is_simulator,
        xcode=xcode,
        model_sha256=model_sha256(model_path),
        bundle_sha256=_manifest_hash(results_path),
        reference_sha256=_manifest_hash(reference_results_path),
        git_revision=revision,
    )


def _manifest_hash(results_path: Path | None) -> str | None:
    manifest = results_path / RESULTS_MANIFEST if results_path is not None else None
    return sha256_file(manifest) if manifest is not None and manifest.is_file() else None
