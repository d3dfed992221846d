"""junit.xml: one test case per parity check, provenance as test-suite properties (for CI dashboards)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from mlupdate.parity.report import ParityReport

# Characters XML 1.0 cannot hold at all (not even escaped): C0 controls but tab/newline/return, surrogates, and
# U+FFFE/U+FFFF. Device names, messages and paths can carry them; they are spelled out instead (`\x01`).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# A check with no evidence ("not_recorded") did not run, like a skipped one: CI dashboards show it as skipped.
_SKIPPED = ("skip", "not_recorded")


def render_junit(report: ParityReport) -> str:
    checks = report.checks
    suite = ET.Element(
        "testsuite",
        {
            "name": f"mlupdate.parity.{report.job_id}",
            "tests": str(len(checks)),
            "failures": str(sum(1 for c in checks if c.status == "fail")),
            "skipped": str(sum(1 for c in checks if c.status in _SKIPPED)),
            "errors": "0",
            "timestamp": report.generated_at,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(report).items():
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for check in checks:
        attributes = {"classname": f"parity.{report.job_id}", "name": check.name, "time": "0"}
        case = ET.SubElement(suite, "testcase", attributes)
        if check.status == "fail":
            failure = ET.SubElement(case, "failure", {"message": check.message, "type": "ParityMismatch"})
            failure.text = json.dumps(check.details.get("worst"), indent=1)
        elif check.status in _SKIPPED:
            ET.SubElement(case, "skipped", {"message": check.message})
        else:
            ET.SubElement(case, "system-out").text = f"{check.status}: {check.message}"
    root = ET.Element("testsuites", {"name": "mlupdate parity"})
    root.append(suite)
    for element in root.iter():
        element.attrib = {key: _xml_text(value) for key, value in element.attrib.items()}
        if element.text is not None:
            element.text = _xml_text(element.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda match: _spelled(ord(match.group())), text)


def _spelled(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _properties(report: ParityReport) -> dict[str, str]:
    provenance = report.provenance.to_dict()
    out = {f"provenance.{k}": "unknown" if v is None else str(v) for k, v in provenance.items()}
    out["result.label"] = report.label
    out["result.dry_run"] = str(report.dry_run).lower()
    out["parity.level"] = report.level
    out["parity.basis"] = report.basis
    out["parity.steps"] = str(report.steps)
    for knob in report.semantics.knobs:
        out[f"semantics.{knob.name}"] = f"{json.dumps(knob.value)} ({knob.label})"
    return out
