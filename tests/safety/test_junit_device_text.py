"""JUnit XML stays valid whatever characters the device put in a name or a message."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlupdate.contract import DeviceInfo
from mlupdate.parity.junit import render_junit
from mlupdate.parity.provenance import Provenance
from mlupdate.parity.report import ParityReport, RunFigures
from mlupdate.parity.verdict import Check, SemanticsInfo

NASTY = "iPhone \x00\x01\x08\x0b\x0c\x1b[31m\x7f \ufffe <&> ]]>"


def test_control_characters_in_device_text_leave_junit_well_formed() -> None:
    report = ParityReport(
        job_id="job-1",
        case="default",
        level="step",
        steps=1,
        passed=False,
        dry_run=False,
        summary=NASTY,
        basis=NASTY,
        rests_on=("weights",),
        not_recorded=(),
        device=DeviceInfo(NASTY, "iPhone16,1", "iOS", "18", "", is_simulator=False),
        producer=None,
        provenance=Provenance("job-1", "companion-ios 1", NASTY, "iPhone16,1", "iOS 18", False, *([None] * 5)),
        semantics=SemanticsInfo((), "iOS 18", None, ""),
        tolerances={},
        checks=(
            Check(f"weights {NASTY}", "fail", NASTY, {"worst": NASTY}),
            Check("loss", "skip", NASTY),
            Check("events", "pass", NASTY),
        ),
        figures=RunFigures(1, None, None, None),
        generated_by="test",
        generated_at="2026-01-01T00:00:00+00:00",
    )
    root = ET.fromstring(render_junit(report))  # raised ParseError: not well-formed (invalid token)
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["provenance.device"] == "iPhone \\x00\\x01\\x08\\x0b\\x0c\\x1b[31m\x7f \\ufffe <&> ]]>"
    failure = next(root.iter("failure"))
    assert "\\x1b[31m" in (failure.get("message") or "")
