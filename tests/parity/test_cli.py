"""`mlharness parity` and `mlharness report` on the golden contract job: exit 0 on parity, 1 on a mismatch,
2 on unusable input; the cross-device table puts reports and raw results side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlharness.cli import main
from mlupdate.bundle import ResultsWriter
from mlupdate.contract import DeviceInfo, Producer, ProgressEvent, TaskRecord, TaskStatus
from mlupdate.models.spec import layers_by_name, load_spec
from mlupdate.output_folder import MARKER

JOB = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs" / "golden-classifier-image"
JOB_ID = "golden-classifier-image"
MODEL = JOB / "model" / "TinyImageClassifier.mlmodel"
REFERENCE = {"name": "mlupdate-reference", "version": "0.1.0", "semantics": {"knobs": {}, "calibrated": {}}}
SIMULATOR = {
    "name": "iPhone 15 Simulator",
    "model": "iPhone16,1",
    "os_name": "iOS",
    "os_version": "17.5",
    "os_build": "21F79",
    "is_simulator": True,
    "chip": None,
    "host": "test host",
}


def events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"task": 0, "event": "trainingBegin", "epoch": None, "mini_batch": None, "loss": None, "t": 0.0}
    ]
    loss, t = 1.1, 0.0
    for epoch in range(2):
        for batch in range(2):
            loss, t = loss * 0.9, t + 0.01
            out.append({"task": 0, "event": "miniBatchEnd", "epoch": epoch, "mini_batch": batch, "loss": loss, "t": t})
        out.append({"task": 0, "event": "epochEnd", "epoch": epoch, "mini_batch": None, "loss": loss, "t": t})
    out.append({"task": 0, "event": "completion", "epoch": None, "mini_batch": None, "loss": loss, "t": t})
    return out


def write_bundle(parent: Path, producer: dict[str, Any], *, weight_delta: float = 0.0) -> Path:
    dense = layers_by_name(load_spec(MODEL))["dense"].innerProduct
    weights = np.asarray(dense.weights.floatValue, np.float32).reshape(3, 48)
    weights[1, 5] += weight_delta
    task = {
        "index": 0,
        "status": "succeeded",
        "error": None,
        "compile_seconds": 0.2,
        "load_seconds": 0.05,
        "train_seconds": 0.4,
        "write_seconds": 0.01,
        "probe_seconds": 0.01,
        "memory_before_bytes": 50_000_000,
        "memory_after_bytes": 60_000_000,
        "epochs_completed": 2,
        "final_loss": events()[-1]["loss"],
    }
    with ResultsWriter(parent, JOB_ID) as writer:
        writer.add_events(ProgressEvent.from_json(event) for event in events())
        writer.add_parameter("dense", "", "weights", weights)
        writer.add_parameter("dense", "", "biases", np.asarray(dense.bias.floatValue, np.float32))
        writer.add_probe_output("probs", "dictionary", [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], ["cat", "dog", "fish"])
        writer.add_probe_output("label", "string", ["cat", "fish"])
        writer.add_model(MODEL)
        device, record = DeviceInfo.from_json(SIMULATOR), TaskRecord.from_json(task)
        return writer.finish(TaskStatus.SUCCEEDED, None, device, [record], Producer.from_json(producer))


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "reference", REFERENCE)


def test_parity_of_a_reference_dry_run_exits_0_and_labels_it(reference: Path, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "report"
    code = main(["parity", str(reference), "--job", str(JOB), "--reference", str(reference), "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "### Parity PASS: golden-classifier-image (step level, 4 steps)" in printed
    assert "reference dry run - not a device result" in printed
    assert {p.name for p in out.iterdir()} == {"report.json", "report.html", "junit.xml", "summary.md", MARKER}


def test_parity_of_a_mismatching_device_exits_1_naming_the_weight(reference: Path, tmp_path: Path, capsys: Any) -> None:
    device = write_bundle(tmp_path / "device", {"name": "companion-ios", "version": "0.1.0"}, weight_delta=0.05)
    out = tmp_path / "report"
    code = main(["parity", str(device), "--job", str(JOB), "--reference", str(reference), "-o", str(out), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["result"] == "fail"
    assert "dense.weights[1,5]" in document["summary"]


def test_parity_with_results_of_another_job_exits_2(reference: Path, tmp_path: Path, capsys: Any) -> None:
    other_job = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs" / "golden-regressor"
    out = tmp_path / "report"
    code = main(["parity", str(reference), "--job", str(other_job), "--reference", str(reference), "-o", str(out)])
    assert code == 2
    assert "expected 'golden-regressor'" in capsys.readouterr().err


def test_ensemble_below_three_is_refused_by_the_parser(reference: Path, capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main(["parity", str(reference), "--job", str(JOB), "--ensemble", "2"])
    assert info.value.code == 2
    assert "at least 3 runs" in capsys.readouterr().err


def test_report_puts_reports_and_results_side_by_side(reference: Path, tmp_path: Path, capsys: Any) -> None:
    device = write_bundle(tmp_path / "device", {"name": "companion-ios", "version": "0.1.0"}, weight_delta=0.05)
    passing, failing = tmp_path / "pass", tmp_path / "fail"
    main(["parity", str(reference), "--job", str(JOB), "--reference", str(reference), "-o", str(passing)])
    main(["parity", str(device), "--job", str(JOB), "--reference", str(reference), "-o", str(failing)])
    capsys.readouterr()
    table_dir = tmp_path / "table"
    code = main(["report", str(passing), str(failing), str(device), "-o", str(table_dir)])
    printed = capsys.readouterr().out
    assert code == 1
    lines = [line for line in printed.splitlines() if line.startswith("| golden")]
    assert len(lines) == 3
    assert "reference dry run - not a device result" in lines[0] and "| pass |" in lines[0]
    assert "| simulator | fail |" in lines[1] and "dense.weights[1,5]" in lines[1]
    assert "| not evaluated |" in lines[2]
    rows = json.loads((table_dir / "cross-device.json").read_text())["rows"]
    assert [row["result"] for row in rows] == ["pass", "fail", "not evaluated"]
    # The final loss is the task record's (the bundle's final_loss), never read off a plot.
    assert rows[1]["final_loss"] == pytest.approx(events()[-1]["loss"])
    assert [row["source"] for row in rows] == [str(passing), str(failing), str(device)]
    html = (table_dir / "cross-device.html").read_text()
    # Each report is linked relative to the table, so the folder can move as a whole; raw bundles have no report.
    assert '<a href="../pass/report.html">' in html and '<a href="../fail/report.html">' in html
    assert html.count("<a href=") == 2
    assert f"[{passing}](" in printed  # the printed table links each report too


def test_report_of_a_folder_that_is_neither_exits_2(tmp_path: Path, capsys: Any) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "a folder with no bundle or report in it; expected a parity report folder" in capsys.readouterr().err
