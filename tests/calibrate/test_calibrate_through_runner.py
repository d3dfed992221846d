"""The calibration suite driven through the real runner and bundle code, on the in-process FakeTarget.

The fake "device" answers every probe job with the reference trainer under a hidden semantics; calibration
must recover it from the pulled, verified results bundles alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlharness.calibrate import calibrate, default_probes, on_target
from mlharness.targets.fake import FakeTarget
from mlupdate.reference.run import run_reference
from mlupdate.reference.semantics import Semantics

HIDDEN = Semantics(cce_reduction="sum", adam_bias_correction=False, knn_tie_break="first_label")


def test_calibration_recovers_a_fake_devices_semantics_from_pulled_results(tmp_path: Path) -> None:
    def app(job_dir: Path, outbox: Path, job_id: str) -> None:
        run_reference(job_dir, outbox, semantics=HIDDEN)

    device = FakeTarget(tmp_path / "device", app=app, polls_to_finish=1)
    calibration = calibrate(on_target(device, app=tmp_path / "MLHarnessCompanion.app"), tmp_path / "work")

    assert calibration.decided() == dataclasses.asdict(HIDDEN)
    assert calibration.undecided() == ()
    jobs = sum(len(probe.jobs) for probe in default_probes())
    assert (device.calls.count("install"), device.calls.count("launch")) == (1, jobs)
    assert (tmp_path / "work" / "cce-reduction" / "target" / "cce" / "calibrate-cce" / "DONE").is_file()
