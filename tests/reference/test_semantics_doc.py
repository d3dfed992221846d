"""docs/semantics.md lists exactly the knobs the reference has, with their values, defaults and status."""

from __future__ import annotations

import re
from pathlib import Path

from mlupdate.reference.semantics import KNOBS, Semantics

DOC = Path(__file__).resolve().parents[2] / "docs" / "semantics.md"
ROW = re.compile(r"^\| `(?P<knob>\w+)` \| (?P<values>[^|]+) \| `(?P<default>[^`]+)` \| (?P<status>\w+) \|")


def documented_knobs() -> dict[str, tuple[list[str], str, str]]:
    rows = (ROW.match(line) for line in DOC.read_text(encoding="utf-8").splitlines())
    return {
        m["knob"]: (re.findall(r"`([^`]+)`", m["values"]), m["default"], m["status"]) for m in rows if m is not None
    }


def test_every_knob_is_documented_with_its_values_default_and_status() -> None:
    documented = documented_knobs()
    defaults = Semantics().to_dict()
    assert sorted(documented) == sorted(KNOBS)
    for name, (allowed, calibrated, _) in KNOBS.items():
        values, default, status = documented[name]
        assert values == [str(v) for v in allowed], name
        assert default == str(defaults[name]), name
        assert status == ("calibrated" if calibrated else "uncalibrated"), name
