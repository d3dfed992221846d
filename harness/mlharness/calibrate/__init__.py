"""The calibration suite: probe jobs that settle Core ML's open update semantics on one target.

`probes` designs the jobs, `evidence` reads results into comparable vectors, `decide` picks each knob's value
(or leaves it undecided, saying why), `suite` runs it all through the runner and the reference trainer, and
`profile` writes the semantics profile (per OS version and device class) that the reference and parity load.
"""

from mlharness.calibrate.decide import MARGIN, Decision, decide
from mlharness.calibrate.evidence import Evidence, EvidenceMismatch, evidence_from_results
from mlharness.calibrate.probes import Probe, ProbeJob, default_probes
from mlharness.calibrate.profile import ProfileKey, profile_document, profile_key, write_profile
from mlharness.calibrate.suite import Calibration, calibrate, on_target, reference_results

__all__ = [
    "MARGIN",
    "Calibration",
    "Decision",
    "Evidence",
    "EvidenceMismatch",
    "Probe",
    "ProbeJob",
    "ProfileKey",
    "calibrate",
    "decide",
    "default_probes",
    "evidence_from_results",
    "on_target",
    "profile_document",
    "profile_key",
    "reference_results",
    "write_profile",
]
