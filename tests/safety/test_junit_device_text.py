"""JUnit XML stays valid whatever characters the device put in a name or a message."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlupdate.parity.junit import render_junit

NASTY = "iPhone \x00\x01\x08\x0b\x0c\x1b[31m\x7f \ufffe <&> ]]>"


def test_control_characters_in_device_text_leave_junit_well_formed() -> None:
    document = {
        "job_id": "job-1",
        "generated_at": "2026-01-01T00:00:00+00:00",
        "provenance": {"device": NASTY, "os": "iOS 18"},
        "checks": [
            {"name": f"weights {NASTY}", "status": "fail", "message": NASTY, "details": {"worst": NASTY}},
            {"name": "loss", "status": "skip", "message": NASTY},
            {"name": "events", "status": "pass", "message": NASTY},
        ],
    }
    root = ET.fromstring(render_junit(document))  # raised ParseError: not well-formed (invalid token)
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["provenance.device"] == "iPhone \\x00\\x01\\x08\\x0b\\x0c\\x1b[31m\x7f \\ufffe <&> ]]>"
    failure = next(root.iter("failure"))
    assert "\\x1b[31m" in (failure.get("message") or "")
