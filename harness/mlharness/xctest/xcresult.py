"""Reading job results back from an `.xcresult` bundle: `xcrun xcresulttool` (Xcode 16+), then the results reader.

Two layers, so a Linux host can read what a farm's Mac exported:

- `Xcresulttool` runs `xcrun xcresulttool get test-results tests` and `export attachments` (argv lists under a
  deadline, failures as `ToolError`) and writes an *export folder*: `tests.json` plus `attachments/` (the
  files and the `manifest.json` that xcresulttool writes). The farm test spec writes the same folder on the
  farm's Mac (`farms/testspec.py`).
- `read_export` turns an export folder into one `XcresultOutcome` per job: the case `test_<job_id>` must have run
  and passed, and its attachment `mlharness-results-<job_id>` (a zip) must be there; the zip is unpacked
  (`archive.py`) and accepted only if `mlupdate.bundle.read_results` accepts it, as for any pull. Otherwise the
  outcome carries the project's error naming the case: `CaseNotRun` (absent or skipped), `RunnerCrashed`,
  `CaseFailed` (a harness error reported on the device), `AttachmentMissing`, or the bundle reader's error.

Field names are those of the recorded samples in tests/data/recorded/xcresulttool (see its README).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlharness.errors import (
    AttachmentMissing,
    CaseError,
    CaseFailed,
    CaseNotRun,
    HarnessError,
    RunnerCrashed,
    ToolError,
    ToolTimeout,
)
from mlharness.process import Completed, ProcessRunner
from mlharness.xctest.archive import extract_results_zip
from mlharness.xctest.names import case_identifier, is_results_attachment, job_id_for_case
from mlupdate import limits
from mlupdate.bundle import ResultsBundle, read_results
from mlupdate.errors import BundleError, MlupdateError

log = logging.getLogger(__name__)

EXPORT_TESTS = "tests.json"
EXPORT_ATTACHMENTS = "attachments"
MANIFEST = "manifest.json"
# tests.json and manifest.json of a run of a few hundred jobs are well under a megabyte.
MAX_JSON_BYTES = 64 << 20

# How a crash of the test host shows in a case's failure messages (XCTest's own wording).
_CRASH_MARKERS = ("crash", "unexpected exit", "test runner exited", "lost connection to the test runner")
_FIX_RERUN = "run the job again; if it keeps happening, read the device log in the xcresult bundle (Xcode › Open)"


@dataclass(frozen=True)
class TestCase:
    """One `Test Case` node of `get test-results tests`."""

    identifier: str  # nodeIdentifier, e.g. "MLHarnessJobTests/test_tictactoe-0001"
    name: str  # e.g. "test_tictactoe-0001()"
    result: str  # "Passed", "Failed", "Skipped", "Expected Failure"
    messages: tuple[str, ...]  # its "Failure Message" children (also a skip's reason)
    duration_seconds: float | None


@dataclass(frozen=True)
class Attachment:
    """One entry of the `manifest.json` that `xcresulttool export attachments` writes."""

    test_identifier: str
    exported_file: str
    suggested_name: str
    associated_with_failure: bool


@dataclass(frozen=True)
class XcresultOutcome:
    """What one job's case produced: a verified results bundle, or the error that says why not."""

    job_id: str
    case: str
    results: ResultsBundle | None
    error: MlupdateError | None
    duration_seconds: float | None = None

    @property
    def verified(self) -> bool:
        return self.results is not None


def parse_test_cases(document: object, source: str) -> list[TestCase]:
    """Every `Test Case` node under `testNodes`, at any depth (plans, bundles and suites nest them)."""
    nodes = _mapping(document, source).get("testNodes")
    if not isinstance(nodes, list):
        raise HarnessError("no `testNodes` list", where=source, fix="pass the output of xcresulttool 16+")
    return [_test_case(node) for node in _walk(nodes) if node.get("nodeType") == "Test Case"]


def parse_manifest(document: object, source: str) -> list[Attachment]:
    """The attachments listed by `export attachments`, per test."""
    if not isinstance(document, list):
        raise HarnessError("expected a JSON list of tests", where=source, fix="pass xcresulttool's manifest.json")
    found: list[Attachment] = []
    for test in document:
        entry = _mapping(test, source)
        identifier = _text(entry.get("testIdentifier"), f"{source}: testIdentifier")
        for attachment in entry.get("attachments") or []:
            item = _mapping(attachment, source)
            found.append(
                Attachment(
                    test_identifier=identifier,
                    exported_file=_text(item.get("exportedFileName"), f"{source}: exportedFileName"),
                    suggested_name=str(item.get("suggestedHumanReadableName") or ""),
                    associated_with_failure=bool(item.get("isAssociatedWithFailure", False)),
                )
            )
    return found


class Xcresulttool:
    """`xcrun xcresulttool` (Xcode 16+). `developer_dir` pins the Xcode on hosts with several."""

    def __init__(self, runner: ProcessRunner, *, developer_dir: str | None = None, timeout: float = 300.0) -> None:
        self._runner = runner
        self._developer_dir = developer_dir
        self._timeout = timeout

    def tests_json(self, xcresult: Path) -> str:
        return self._run("get", "test-results", "tests", "--path", str(xcresult)).stdout

    def export_attachments(self, xcresult: Path, out: Path) -> None:
        self._run("export", "attachments", "--path", str(xcresult), "--output-path", str(out))

    def export(self, xcresult: Path, dest: Path) -> Path:
        """Write the export folder (`tests.json`, `attachments/`) of `xcresult` into `dest` (a new folder)."""
        if not xcresult.is_dir():
            raise HarnessError(
                "not an .xcresult bundle (a folder)",
                where=str(xcresult),
                fix="pass the folder given to `xcodebuild -resultBundlePath`",
            )
        dest.mkdir(parents=True, exist_ok=False)
        (dest / EXPORT_TESTS).write_text(self.tests_json(xcresult), encoding="utf-8")
        self.export_attachments(xcresult, dest / EXPORT_ATTACHMENTS)
        return dest

    def _run(self, *args: str) -> Completed:
        argv = ["xcrun", "xcresulttool", *args]
        env = {"DEVELOPER_DIR": self._developer_dir} if self._developer_dir else None
        try:
            return self._runner.run(argv, timeout=self._timeout, env=env)
        except ToolTimeout:
            raise
        except ToolError as exc:
            if "test-results" in exc.stderr and ("Unknown" in exc.stderr or "unknown" in exc.stderr):
                raise ToolError(
                    exc.argv,
                    exc.returncode,
                    exc.stderr,
                    what="this xcresulttool has no `get test-results` (it came with Xcode 16)",
                    fix="select Xcode 16 or later (xcode-select -s, or --developer-dir)",
                ) from exc
            raise


def extract_xcresult(
    xcresult: Path, job_ids: Sequence[str], out_dir: Path, *, tool: Xcresulttool
) -> list[XcresultOutcome]:
    """Export `xcresult` with xcresulttool into a scratch folder, then `read_export` it."""
    with tempfile.TemporaryDirectory(prefix="mlharness-xcresult-") as scratch:
        export = tool.export(xcresult, Path(scratch) / "export")
        return read_export(export, job_ids, out_dir, where=str(xcresult))


def read_export(
    export_dir: Path, job_ids: Sequence[str], out_dir: Path, *, where: str | None = None
) -> list[XcresultOutcome]:
    """One outcome per job id, in order; verified bundles are unpacked to `out_dir/<job_id>`."""
    where = where or str(export_dir)
    cases = _cases_by_job(parse_test_cases(_read_json(export_dir / EXPORT_TESTS), f"{where}: {EXPORT_TESTS}"))
    attachments_dir = export_dir / EXPORT_ATTACHMENTS
    manifest_path = attachments_dir / MANIFEST
    # No manifest at all: xcresulttool exported nothing (no test attached anything).
    attachments = parse_manifest(_read_json(manifest_path), f"{where}: {MANIFEST}") if manifest_path.is_file() else []
    return [_outcome(job_id, cases.get(job_id, []), attachments, attachments_dir, out_dir, where) for job_id in job_ids]


def first_error(outcomes: Iterable[XcresultOutcome]) -> MlupdateError | None:
    """The first outcome's error, for callers that need every job verified."""
    return next((outcome.error for outcome in outcomes if outcome.error is not None), None)


def _outcome(
    job_id: str,
    cases: list[TestCase],
    attachments: list[Attachment],
    attachments_dir: Path,
    out_dir: Path,
    where: str,
) -> XcresultOutcome:
    case_id = case_identifier(job_id)
    if not cases:
        error: MlupdateError = CaseNotRun(
            "not in the test results: the case never ran",
            job_id=job_id,
            case=case_id,
            where=where,
            fix="check that the job was packaged (mlharness package) and that the run was not stopped early",
        )
        return XcresultOutcome(job_id, case_id, None, error)
    if len(cases) > 1:
        error = CaseFailed(
            f"the case appears {len(cases)} times in the test results",
            job_id=job_id,
            case=case_id,
            where=where,
            fix="run each job once per device: do not repeat or retry the job cases",
        )
        return XcresultOutcome(job_id, case_id, None, error)
    case = cases[0]
    failure = _case_failure(case, job_id, where)
    if failure is not None:
        return XcresultOutcome(job_id, case_id, None, failure, case.duration_seconds)
    try:
        results = _verified_results(case, job_id, attachments, attachments_dir, out_dir, where)
    except (CaseError, BundleError) as exc:
        return XcresultOutcome(job_id, case_id, None, exc, case.duration_seconds)
    return XcresultOutcome(job_id, case_id, results, None, case.duration_seconds)


def _case_failure(case: TestCase, job_id: str, where: str) -> CaseError | None:
    case_id = case_identifier(job_id)
    detail = "; ".join(case.messages)
    if case.result == "Passed":
        return None
    if case.result == "Skipped":
        return CaseNotRun(
            f"skipped: {detail or 'no reason given'}", job_id=job_id, case=case_id, where=where, fix=_FIX_RERUN
        )
    if case.result == "Failed" and any(marker in detail.lower() for marker in _CRASH_MARKERS):
        return RunnerCrashed(
            f"the test runner crashed: {detail}",
            job_id=job_id,
            case=case_id,
            where=where,
            fix="the companion app died while training (often memory): read the crash log in the xcresult bundle",
        )
    return CaseFailed(
        f"{case.result.lower()}: {detail or 'no failure message'}",
        job_id=job_id,
        case=case_id,
        where=where,
        fix="the device reported a harness error (not a parity verdict); the message says which step failed",
    )


def _verified_results(
    case: TestCase, job_id: str, attachments: list[Attachment], attachments_dir: Path, out_dir: Path, where: str
) -> ResultsBundle:
    case_id = case_identifier(job_id)
    mine = [
        a
        for a in attachments
        if _same_test(a.test_identifier, case.identifier) and is_results_attachment(a.suggested_name, job_id)
    ]
    if not mine:
        raise AttachmentMissing(
            "passed, but its results attachment is not among the exported attachments",
            job_id=job_id,
            case=case_id,
            where=where,
            fix="the case attaches the sealed bundle as it ends: check that attachments are kept "
            "(XCTAttachment lifetime .keepAlways) and exported (xcresulttool export attachments)",
        )
    if len(mine) > 1:
        raise CaseFailed(
            f"{len(mine)} results attachments for one case",
            job_id=job_id,
            case=case_id,
            where=where,
            fix="run each job once per device: do not repeat the job cases",
        )
    archive = _attachment_file(attachments_dir, mine[0], job_id, case_id, where)
    dest = out_dir / job_id
    extract_results_zip(archive, dest, where=f"{where}: {case_id} attachment {mine[0].exported_file}")
    try:
        return read_results(dest, job_id)
    except BundleError:
        # Unpacked by us a moment ago: a bundle the reader refused must not sit where verified results go.
        shutil.rmtree(dest)
        raise


def _attachment_file(attachments_dir: Path, attachment: Attachment, job_id: str, case_id: str, where: str) -> Path:
    name = attachment.exported_file
    path = attachments_dir / name
    if "/" in name or "\\" in name or name in ("", ".", "..") or path.is_symlink():
        raise BundleError(
            f"exported attachment name {name!r} is not a plain file name",
            where=f"{where}: {case_id}",
            fix="refused: an export folder holds plain files only",
        )
    if not path.is_file():
        raise AttachmentMissing(
            f"the manifest lists {name}, but the file is not in the export folder",
            job_id=job_id,
            case=case_id,
            where=where,
            fix="the export was copied incompletely: export the attachments again",
        )
    return path


def _cases_by_job(cases: Iterable[TestCase]) -> Mapping[str, list[TestCase]]:
    by_job: dict[str, list[TestCase]] = {}
    for case in cases:
        job_id = job_id_for_case(case.identifier or case.name)
        if job_id is not None:
            by_job.setdefault(job_id, []).append(case)
    return by_job


def _same_test(a: str, b: str) -> bool:
    return a.removesuffix("()") == b.removesuffix("()")


def _walk(nodes: list[Any]) -> Iterator[Mapping[str, Any]]:
    for node in nodes:
        if isinstance(node, dict):
            yield node
            yield from _walk(node.get("children") or [])


def _test_case(node: Mapping[str, Any]) -> TestCase:
    name = str(node.get("name") or "")
    children = [child for child in node.get("children") or [] if isinstance(child, dict)]
    duration = node.get("durationInSeconds")
    return TestCase(
        identifier=str(node.get("nodeIdentifier") or name),
        name=name,
        result=str(node.get("result") or ""),
        messages=tuple(str(c.get("name", "")) for c in children if c.get("nodeType") == "Failure Message"),
        duration_seconds=float(duration) if isinstance(duration, int | float) else None,
    )


def _read_json(path: Path) -> Any:
    """An exported JSON file: a regular file (no link), bounded in size and nesting before it is parsed."""
    fix = "export the .xcresult bundle again (mlharness xcresult)"

    def refuse(what: str, *, where: str, fix: str) -> HarnessError:
        return HarnessError(what, where=where, fix=fix)

    try:
        data = limits.read_bounded(path, MAX_JSON_BYTES, error=refuse, what=path.name, fix=fix)
    except FileNotFoundError:
        raise HarnessError("missing", where=str(path), fix=fix) from None
    limits.check_json_depth(data, error=refuse, where=str(path), fix=fix)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise HarnessError(f"not JSON: {exc}", where=str(path), fix=fix) from None


def _mapping(value: object, source: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise HarnessError(f"expected a JSON object, got {type(value).__name__}", where=source, fix="see the README")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise HarnessError(f"expected a non-empty string, got {value!r}", where=where, fix="see the README")
    return value
