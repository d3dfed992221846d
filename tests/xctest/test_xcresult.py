"""xcresult extraction on recorded xcresulttool output: real samples, and our job cases in the same format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlharness.errors import (
    AttachmentMissing,
    CaseFailed,
    CaseNotRun,
    HarnessError,
    RunnerCrashed,
    ToolError,
)
from mlharness.process import Reply, ScriptedRunner
from mlharness.xctest import Xcresulttool, extract_xcresult, first_error, parse_test_cases, read_export
from mlupdate.errors import HashMismatchError, IncompleteBundleError

XCRESULTTOOL = Path(__file__).resolve().parents[1] / "data" / "recorded" / "xcresulttool"
# The jobs of the derived sample jobs-mixed.tests.json, in the order its README lists them.
MIXED_JOBS = (
    "golden-classifier-image",
    "golden-knn-pipeline",
    "lunch-0003",
    "catdog-0004",
    "digits-0005",
    "mnist-0006",
    "stickers-0007",
)


def recorded(name: str) -> object:
    return json.loads((XCRESULTTOOL / name).read_text(encoding="utf-8"))


def test_recorded_sample_lists_every_case_with_its_result_and_messages() -> None:
    cases = {c.identifier: c for c in parse_test_cases(recorded("randomstuff-14-12-06.tests.json"), "sample")}

    assert {c.result for c in cases.values()} == {"Passed", "Failed", "Skipped", "Expected Failure"}
    assert len(cases) == 7
    skipped = cases["RandomStuffTests/testSkippedTest()"]
    assert skipped.result == "Skipped"
    assert skipped.messages == ("Test skipped - Required API is not available for this test.",)
    failed = cases["RandomStuffTests/testFoo()"]
    assert failed.messages == ('RandomStuffTests.swift:38: XCTAssertEqual failed: ("1") is not equal to ("2")',)
    assert failed.duration_seconds == pytest.approx(0.00212, rel=1e-3)


def test_recorded_ui_sample_finds_cases_under_every_bundle_and_ignores_argument_nodes() -> None:
    cases = parse_test_cases(recorded("randomstuff-12-36-33.tests.json"), "sample")

    assert [c.identifier for c in cases] == [
        "RandomStuffUITestsLaunchTests/testLaunch",
        "RandomStuffUITests/testExample()",
        "RandomStuffUITests/testLaunchPerformance()",
        "RandomStuffTests/testExample()",
        "RandomStuffTests/testPerformanceExample()",
    ]
    assert all(c.result == "Passed" and c.messages == () for c in cases)


def test_cases_of_other_test_classes_are_never_taken_for_jobs(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(XCRESULTTOOL / "randomstuff-14-12-06.tests.json", export / "tests.json")

    outcomes = read_export(export, ["Foo", "Example"], tmp_path / "out")

    assert [type(o.error) for o in outcomes] == [CaseNotRun, CaseNotRun]
    assert not (tmp_path / "out").exists()


def test_each_job_gets_a_verified_bundle_or_the_error_that_names_its_case(mixed_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"

    outcomes = {o.job_id: o for o in read_export(mixed_export, MIXED_JOBS, out)}

    verified = outcomes["golden-classifier-image"]
    assert verified.verified and verified.error is None
    assert verified.results is not None and verified.results.status == "succeeded"
    assert verified.results.path == out / "golden-classifier-image"
    assert outcomes["golden-knn-pipeline"].results is not None
    expected = {
        "lunch-0003": AttachmentMissing,
        "catdog-0004": RunnerCrashed,
        "digits-0005": CaseNotRun,
        "mnist-0006": CaseFailed,
        "stickers-0007": CaseNotRun,
    }
    for job_id, error_type in expected.items():
        error = outcomes[job_id].error
        assert type(error) is error_type, job_id
        assert f"MLHarnessJobTests/test_{job_id}" in str(error)
        assert outcomes[job_id].results is None
    assert "no Neural Engine" in str(outcomes["digits-0005"].error)
    assert "never ran" in str(outcomes["stickers-0007"].error)
    assert "harness error (load)" in str(outcomes["mnist-0006"].error)
    assert sorted(p.name for p in out.iterdir()) == ["golden-classifier-image", "golden-knn-pipeline"]


def test_a_tampered_attachment_is_refused_by_the_results_reader_and_not_left_behind(
    mixed_export: Path, tmp_path: Path
) -> None:
    import zipfile

    archive = mixed_export / "attachments" / "2F0C9D4E-7A51-4B8C-9E13-5D6A2B7C8F01.zip"
    with zipfile.ZipFile(archive) as original:
        members = {name: original.read(name) for name in original.namelist()}
    members["events.jsonl"] = members["events.jsonl"].replace(b"0.", b"9.", 1)
    with zipfile.ZipFile(archive, "w") as rewritten:
        for name, data in members.items():
            rewritten.writestr(name, data)
    out = tmp_path / "results"

    (outcome,) = read_export(mixed_export, ["golden-classifier-image"], out)

    assert isinstance(outcome.error, HashMismatchError)
    assert not (out / "golden-classifier-image").exists()


def test_an_attachment_for_another_job_does_not_count(mixed_export: Path, tmp_path: Path) -> None:
    manifest = mixed_export / "attachments" / "manifest.json"
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    # The knn case's attachment now claims to be the classifier's results: it is still not the knn job's.
    entries[1]["attachments"][0]["suggestedHumanReadableName"] = "mlharness-results-golden-classifier-image.zip"
    manifest.write_text(json.dumps(entries), encoding="utf-8")

    (outcome,) = read_export(mixed_export, ["golden-knn-pipeline"], tmp_path / "out")

    assert isinstance(outcome.error, AttachmentMissing)


def test_a_bundle_under_the_wrong_job_id_is_refused(mixed_export: Path, tmp_path: Path) -> None:
    manifest = mixed_export / "attachments" / "manifest.json"
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    # The classifier case attaches the knn job's results zip: DONE names another job.
    entries[0]["attachments"][0]["exportedFileName"] = "91B7E2A0-3C64-4F0D-8A2E-6B1F9C0D4E75.zip"
    manifest.write_text(json.dumps(entries), encoding="utf-8")

    (outcome,) = read_export(mixed_export, ["golden-classifier-image"], tmp_path / "out")

    assert isinstance(outcome.error, IncompleteBundleError)


def test_a_listed_attachment_file_that_is_gone_is_missing(mixed_export: Path, tmp_path: Path) -> None:
    (mixed_export / "attachments" / "2F0C9D4E-7A51-4B8C-9E13-5D6A2B7C8F01.zip").unlink()

    (outcome,) = read_export(mixed_export, ["golden-classifier-image"], tmp_path / "out")

    assert isinstance(outcome.error, AttachmentMissing)
    assert first_error([outcome]) is outcome.error


def test_no_manifest_means_no_attachments(mixed_export: Path, tmp_path: Path) -> None:
    shutil.rmtree(mixed_export / "attachments")

    (outcome,) = read_export(mixed_export, ["golden-classifier-image"], tmp_path / "out")

    assert isinstance(outcome.error, AttachmentMissing)


def test_export_without_tests_json_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"tests\.json"):
        read_export(tmp_path, ["a"], tmp_path / "out")


def test_xcresulttool_runs_as_argv_lists_under_the_pinned_xcode(mixed_export: Path, tmp_path: Path) -> None:
    tests_json = (mixed_export / "tests.json").read_text(encoding="utf-8")

    class ExportingRunner(ScriptedRunner):
        def run(self, argv, *, timeout, env=None):  # type: ignore[no-untyped-def]
            if argv[2] == "export":
                shutil.copytree(mixed_export / "attachments", argv[argv.index("--output-path") + 1])
            return super().run(argv, timeout=timeout, env=env)

    runner = ExportingRunner(
        {
            ("xcrun", "xcresulttool", "get", "test-results", "tests"): Reply(stdout=tests_json),
            ("xcrun", "xcresulttool", "export", "attachments"): Reply(),
        }
    )
    bundle = tmp_path / "Run.xcresult"
    bundle.mkdir()
    tool = Xcresulttool(runner, developer_dir="/Applications/Xcode_16.4.app/Contents/Developer")

    outcomes = extract_xcresult(bundle, ["golden-classifier-image", "stickers-0007"], tmp_path / "out", tool=tool)

    assert outcomes[0].verified and isinstance(outcomes[1].error, CaseNotRun)
    (get_argv, get_env), (export_argv, _) = runner.calls
    assert get_argv == ["xcrun", "xcresulttool", "get", "test-results", "tests", "--path", str(bundle)]
    assert export_argv[:6] == ["xcrun", "xcresulttool", "export", "attachments", "--path", str(bundle)]
    assert get_env == {"DEVELOPER_DIR": "/Applications/Xcode_16.4.app/Contents/Developer"}


def test_an_xcresulttool_without_test_results_says_which_xcode_is_needed(tmp_path: Path) -> None:
    stderr = "Error: Unknown option 'test-results'\nUsage: xcresulttool get --path <path> [--id <id>]"
    runner = ScriptedRunner({("xcrun", "xcresulttool"): Reply(stderr=stderr, returncode=64)})
    bundle = tmp_path / "Run.xcresult"
    bundle.mkdir()

    with pytest.raises(ToolError, match="Xcode 16") as caught:
        extract_xcresult(bundle, ["a"], tmp_path / "out", tool=Xcresulttool(runner))
    assert caught.value.returncode == 64 and caught.value.argv[:3] == ["xcrun", "xcresulttool", "get"]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,  # json.loads raised RecursionError
        '{"testNodes": ' + '[{"nodeType": "Test Suite", "children": ' * 40 + "[]" + "}]" * 40 + "}",
    ],
)
def test_exported_json_nested_deeper_than_the_limit_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    (tmp_path / "tests.json").write_text(text, encoding="utf-8")
    with pytest.raises(HarnessError, match=r"tests\.json.*nested \d+ deep|nested \d+ deep.*tests\.json"):
        read_export(tmp_path, ["a"], tmp_path / "out")


def test_an_exported_json_that_is_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.json").write_text('{"testNodes": []}', encoding="utf-8")
    (tmp_path / "tests.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(HarnessError, match=r"tests\.json"):
        read_export(tmp_path, ["a"], tmp_path / "out")
