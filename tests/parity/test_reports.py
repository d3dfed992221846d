"""Reports: versioned report.json, self-contained HTML with its plots, JUnit XML with provenance, Markdown;
results made by the reference are labelled as such in every format."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mlupdate.errors import InputError
from mlupdate.parity import evaluate
from mlupdate.parity.provenance import model_sha256, provenance
from mlupdate.parity.report import REPORT_SCHEMA_VERSION, ParityReport, build_report, read_report, write_reports

DRY = "reference dry run - not a device result"


def reports_for(reference: Any, device: Any, out: Path) -> tuple[ParityReport, Any]:
    verdict = evaluate(reference, device)
    prov = provenance(
        job_id=device.job_id,
        producer=device.producer,
        device=device.device,
        model_path=device.model_path,
        results_path=device.path,
        reference_results_path=reference.path,
        revision="0123abc",
    )
    report = build_report(verdict, prov, device.tasks)
    return report, write_reports(report, out)


@pytest.fixture
def device_reports(write_results: Any, reference_ingredients: Any, device_ingredients: Any, tmp_path: Path) -> Any:
    perturbed = device_ingredients.copy()
    perturbed.parameters[("drawing_dense1_fwd", "weights")][0, 0] += 0.01
    return reports_for(write_results(reference_ingredients, "r"), write_results(perturbed, "d"), tmp_path / "out")


@pytest.fixture
def dry_run_reports(write_results: Any, reference_ingredients: Any, tmp_path: Path) -> Any:
    reference = write_results(reference_ingredients, "r")
    return reports_for(reference, reference, tmp_path / "dry")


def test_report_json_is_versioned_and_reads_back_as_the_same_typed_report(
    device_reports: Any, real_models: Path
) -> None:
    report, paths = device_reports
    stored = read_report(paths.json.parent)
    assert stored.to_json() == report.to_json()
    assert json.loads(paths.json.read_text())["schema_version"] == REPORT_SCHEMA_VERSION
    assert stored.result == "fail" and stored.label == "device result"
    assert stored.provenance.git_revision == "0123abc"
    # The hash of a .mlmodelc folder covers relative paths and file hashes, so the pulled copy hashes like the source.
    assert stored.provenance.model_sha256 == model_sha256(real_models / "mnist-classifier/MNISTClassifier.mlmodelc")
    assert stored.provenance.bundle_sha256 is not None and len(stored.provenance.bundle_sha256) == 64
    # Figures come from the device's own task records, not from a plot or a message.
    assert stored.figures.tasks == 2 and stored.figures.final_loss == 1.2
    assert stored.figures.memory_growth_bytes_per_task == pytest.approx(250e6)


def test_a_report_of_an_unknown_schema_version_is_refused(device_reports: Any) -> None:
    _, paths = device_reports
    document = json.loads(paths.json.read_text())
    document["schema_version"] = 99
    paths.json.write_text(json.dumps(document))
    with pytest.raises(InputError, match="report schema version 99"):
        read_report(paths.json)


def test_a_report_that_does_not_match_its_schema_is_refused(device_reports: Any) -> None:
    _, paths = device_reports
    document = json.loads(paths.json.read_text())
    document["figures"]["final_loss"] = "low"
    paths.json.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"figures/final_loss: does not match report.schema.json"):
        read_report(paths.json)


def test_junit_has_one_case_per_check_and_provenance_properties(device_reports: Any) -> None:
    report, paths = device_reports
    suite = ET.parse(paths.junit).getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["provenance.device"] == "Test iPhone"
    assert properties["provenance.os"] == "iOS 17.4 (21E219)"
    assert properties["provenance.xcode"] == "unknown"
    assert properties["provenance.git_revision"] == "0123abc"
    assert len(properties["provenance.model_sha256"]) == 64
    assert properties["semantics.cce_reduction"] == '"mean" (uncalibrated)'
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {check.name for check in report.checks}
    failure = cases["parameters"].find("failure")
    assert failure is not None
    assert "drawing_dense1_fwd.weights[0,0]" in (failure.get("message") or "")
    assert suite.get("failures") == str(sum(1 for c in report.checks if c.status == "fail"))


def test_html_is_self_contained_and_plots_only_what_has_data(device_reports: Any) -> None:
    _, paths = device_reports
    html = paths.html.read_text()
    plotted = re.findall(r'<figure data-plot="(\w+)"><svg', html)
    assert plotted == ["loss", "parameters", "epochs", "memory"]
    # The step-level run has no ensemble: that plot is left out and the reason given once.
    assert html.count("there is no ensemble") == 1
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html)
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html
    assert "drawing_dense1_fwd.weights[0,0]" in html
    assert "uncalibrated" in html


def test_reference_dry_run_is_labelled_in_every_format(dry_run_reports: Any) -> None:
    report, paths = dry_run_reports
    assert report.dry_run is True
    assert report.label == DRY
    assert paths.html.read_text().count(DRY) == 1  # once, prominently
    assert "measured by the reference trainer on this host" in paths.html.read_text()
    assert DRY in paths.markdown.read_text()
    assert DRY in json.loads(paths.json.read_text())["summary"]
    properties = {p.get("name"): p.get("value") for p in ET.parse(paths.junit).iter("property")}
    assert properties["result.label"] == DRY
    assert properties["result.dry_run"] == "true"


def test_markdown_summary_lists_every_check(device_reports: Any) -> None:
    report, paths = device_reports
    text = paths.markdown.read_text()
    assert text.startswith(f"### Parity FAIL: {report.job_id} (step level, 6 steps)")
    for check in report.checks:
        assert f"| {check.name} |" in text
