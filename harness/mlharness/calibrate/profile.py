"""The semantics profile a calibration writes: decided knobs per OS version and device class, with evidence.

`knobs` holds only decided values, so `mlupdate.reference.semantics.load_profile` (and `Semantics.from_dict`)
read a profile directly and keep their documented defaults for anything left undecided; `decisions` keeps
every knob's status, reason and distances for the reports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlharness import __version__
from mlharness.calibrate.suite import Calibration
from mlupdate.output_folder import write_atomic

if TYPE_CHECKING:
    from mlharness.targets.base import TargetInfo

PROFILE_KIND = "mlupdate.semantics-profile"
PROFILE_VERSION = 1


@dataclass(frozen=True)
class ProfileKey:
    """Which targets a profile speaks for: an OS version on one device class."""

    os_name: str
    os_version: str
    device_class: str

    def file_name(self) -> str:
        text = f"semantics-{self.os_name}-{self.os_version}-{self.device_class}.json"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def profile_key(info: TargetInfo) -> ProfileKey:
    """`simulator` for every Simulator (it trains on the host CPU); else the product family (`iPhone`, `iPad`)."""
    family = re.sub(r"[\d,]+$", "", info.model) or info.model or "unknown"
    return ProfileKey(info.os_name, info.os_version, "simulator" if info.is_simulator else family)


def profile_document(calibration: Calibration, info: TargetInfo) -> dict[str, Any]:
    """The profile as a JSON-ready dict."""
    key = profile_key(info)
    return {
        "schema_version": PROFILE_VERSION,
        "kind": PROFILE_KIND,
        "created_by": f"mlharness {__version__}",
        "os_name": key.os_name,
        "os_version": key.os_version,
        "device_class": key.device_class,
        "measured_on": {
            "name": info.name,
            "kind": info.kind,
            "udid": info.udid,
            "model": info.model,
            "chip": info.chip,
            "is_simulator": info.is_simulator,
        },
        "knobs": calibration.decided(),
        "undecided": list(calibration.undecided()),
        "decisions": {decision.knob: decision.to_dict() for decision in calibration.decisions},
    }


def write_profile(calibration: Calibration, info: TargetInfo, path: Path) -> Path:
    """Write the profile atomically (temp file + rename) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, (json.dumps(profile_document(calibration, info), indent=2) + "\n").encode("utf-8"))
