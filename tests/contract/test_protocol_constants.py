"""The host and the companion app agree on every name they share, read from the Swift sources and the Xcode
project themselves: bundle id, launch argument and environment variable, inbox/outbox/partial folders, the
files the host polls and pulls, parameter and probe file names, the sources the app target compiles, and a
deployment target that covers every Apple API the app uses. Nothing here runs Swift, so a drift between the two
sides fails on any machine, long before a Mac or an iPhone would show it. The Codable types and enumerations are
checked against the JSON schemas themselves by the Swift package's SchemaConformanceTests (`swift test`)."""

from __future__ import annotations

import plistlib
import re
from pathlib import Path

import numpy as np
import pytest

from mlharness.targets.base import (
    COMPANION_BUNDLE_ID,
    COMPANION_LOG_SUBSYSTEM,
    inbox_path,
    job_arguments,
    job_environment,
    outbox_path,
    partial_path,
)
from mlupdate.bundle.results_writer import ResultsWriter
from mlupdate.contract import DONE, EVENTS, RUN_ARGUMENT, RUN_ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ios_app"
KIT = APP / "Sources" / "CompanionKit"
COREML = APP / "Sources" / "CompanionCoreML"
PBXPROJ = APP / "MLHarnessCompanion.xcodeproj" / "project.pbxproj"
JOB_ID = "job-7.a_b"


def swift(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def one(pattern: str, text: str, what: str) -> str:
    """The single capture of `pattern` in `text`; fails naming what was looked for."""
    found = re.findall(pattern, text)
    assert len(found) == 1, f"expected exactly one {what} ({pattern!r}), found {found}"
    return str(found[0])


def plist() -> dict[str, object]:
    with (APP / "App" / "Info.plist").open("rb") as handle:
        document = plistlib.load(handle)
    assert isinstance(document, dict)
    return document


def test_bundle_id_is_the_hosts_in_project_spec_xcode_project_and_info_plist() -> None:
    # The app, and the XCTest job cases it hosts (JobTests/), whose bundle id is the app's with a suffix.
    expected = {COMPANION_BUNDLE_ID, f"{COMPANION_BUNDLE_ID}.jobtests"}
    assert set(re.findall(r"PRODUCT_BUNDLE_IDENTIFIER: (\S+)", swift(APP / "project.yml"))) == expected
    in_project = set(re.findall(r"PRODUCT_BUNDLE_IDENTIFIER = ([^;]+);", swift(PBXPROJ)))
    assert in_project == expected
    assert plist()["CFBundleIdentifier"] == "$(PRODUCT_BUNDLE_IDENTIFIER)"


def test_app_logs_under_the_subsystem_the_host_streams() -> None:
    sources = [*(APP / "App").glob("*.swift"), *COREML.glob("*.swift")]
    subsystems = {s for path in sources for s in re.findall(r'Logger\(subsystem: "([^"]+)"', swift(path))}
    assert subsystems == {COMPANION_LOG_SUBSYSTEM}


def test_info_plist_lets_the_host_reach_documents_and_is_the_one_the_project_uses() -> None:
    document = plist()
    assert document["UIFileSharingEnabled"] is True  # VendDocuments (pymobiledevice3) needs it
    assert document["LSSupportsOpeningDocumentsInPlace"] is True
    assert one(r"(?m)^\s*INFOPLIST_FILE: (\S+)", swift(APP / "project.yml"), "INFOPLIST_FILE") == "App/Info.plist"
    assert set(re.findall(r"(?m)^\s*INFOPLIST_FILE = ([^;]+);", swift(PBXPROJ))) == {"App/Info.plist"}


def test_app_reads_the_job_id_from_the_argument_and_variable_the_host_launches_with() -> None:
    controller = swift(APP / "App" / "JobController.swift")
    flag = one(r'arguments\.firstIndex\(of: "([^"]+)"\)', controller, "launch flag")
    variable = one(r'environment\["([^"]+)"\]', controller, "environment variable")
    assert job_arguments(JOB_ID) == [flag, JOB_ID]
    assert job_environment(JOB_ID) == {variable: JOB_ID}


def test_app_reads_the_inbox_and_writes_the_outbox_the_host_pushes_to_and_polls() -> None:
    controller = swift(APP / "App" / "JobController.swift")
    assert ".documentDirectory" in controller
    assert "DeviceFolders.launchRun(arguments: info.arguments, environment: info.environment)" in controller
    assert re.search(r"let inbox = folders\.inbox\(jobID: id\)", controller)
    assert re.search(r"let outbox = folders\.outbox\b", controller)
    folders = swift(KIT / "DeviceFolders.swift")
    name = {key: one(rf'static let {key} = "([^"]+)"', folders, key) for key in ("inboxName", "outboxName", "runsName")}
    assert inbox_path(JOB_ID) == f"Documents/{name['inboxName']}/{JOB_ID}"
    assert outbox_path(JOB_ID) == f"Documents/{name['outboxName']}/{JOB_ID}"
    assert inbox_path(JOB_ID, "r1") == f"Documents/{name['runsName']}/r1/{name['inboxName']}/{JOB_ID}"
    assert outbox_path(JOB_ID, "r1") == f"Documents/{name['runsName']}/r1/{name['outboxName']}/{JOB_ID}"
    assert one(r'runArgument = "([^"]+)"', folders, "run flag") == RUN_ARGUMENT
    assert one(r'runEnvironment = "([^"]+)"', folders, "run variable") == RUN_ENVIRONMENT


def test_app_stages_and_mirrors_live_events_in_the_partial_folder_the_host_reads() -> None:
    writer = swift(KIT / "ResultsWriter.swift")
    staging = one(r'outbox\.appendingPathComponent\("([^"]+)"\)', writer, "staging folder name")
    staged = staging.replace(r"\(jobID)", JOB_ID)
    assert partial_path(JOB_ID) == f"Documents/outbox/{staged}"
    runner = swift(COREML / "JobRunner.swift")
    assert re.search(r"ResultsWriter\.stagingURL\(outbox: outbox, jobID: [^)]+\)\.appendingPathComponent\(", runner)
    assert re.search(r"EventLog\(mirroringTo: ", runner), "the Core ML runner must mirror events while it runs"
    # The Python writer (reference, fixtures) stages under the same name.
    assert ResultsWriter(Path("outbox"), JOB_ID).root == Path("outbox") / staged


def test_sentinel_and_event_log_names_are_the_ones_the_host_polls_and_reads() -> None:
    results = swift(KIT / "Results.swift")
    assert one(r'sentinelName = "([^"]+)"', results, "DONE name") == DONE
    assert one(r'static let fileName = "([^"]+)"', swift(KIT / "EventLog.swift"), "events file name") == EVENTS
    assert one(r'static let fileName = "([^"]+)"', results, "results manifest name") == "results.json"
    assert one(r'static let fileName = "([^"]+)"', swift(KIT / "Job.swift"), "job manifest name") == "job.json"


@pytest.mark.parametrize("source", [None, "context", "reloaded"])
@pytest.mark.parametrize(("scope", "layer"), [("", "dense_1"), ("model1", "dense_1")])
def test_parameter_files_are_named_alike_by_the_app_and_the_python_writer(
    scope: str, layer: str, source: str | None, tmp_path: Path
) -> None:
    results = swift(KIT / "Results.swift")
    reloaded_folder = one(r'source == \.reloaded \? "([^"]+)" : "parameters"', results, "reloaded dump folder")
    path = one(r'path = "(\\\(folder\)/[^"]+)"', results, "parameter path template")
    scoped = one(r'scope\.isEmpty \? layer : "([^"]+)"', results, "scoped layer name")
    scoped_name = scoped.replace(r"\(scope)", scope).replace(r"\(layer)", layer) if scope else layer
    folder = reloaded_folder if source == "reloaded" else "parameters"
    swift_path = path.replace(r"\(folder)", folder).replace(
        r"\(Self.scopedName(layer: layer, scope: scope))", scoped_name
    )
    with ResultsWriter(tmp_path, JOB_ID) as writer:
        written = writer.add_parameter(layer, scope, "weights", np.zeros((2, 3), dtype=np.float32), source=source)
    assert written.relative_to(writer.root).as_posix() == swift_path.replace(r"\(kind.rawValue)", "weights")


def test_app_scopes_pipeline_parameter_keys_sub_model_first_then_layer() -> None:
    configuration = swift(COREML / "ModelConfiguration.swift")
    assert re.search(r"return scoped\(base, to: scope\)\.scoped\(to: layer\)", configuration)
    assert re.search(r"scope\.isEmpty \? key : key\.scoped\(to: scope\)", configuration)


def test_probe_files_are_named_alike_by_the_app_and_the_python_writer(tmp_path: Path) -> None:
    artifacts = swift(COREML / "Artifacts.swift")
    array = one(r'let path = "(probe/[^"]+\.npy)"', artifacts, "probe array path")
    labels = one(r'let path = "(probe/[^"]+\.json)"', artifacts, "probe labels path")
    with ResultsWriter(tmp_path, JOB_ID) as writer:
        npy = writer.add_probe_output("probs", "dictionary", [[0.5, 0.5]], classes=["a", "b"])
        listed = writer.add_probe_output("label", "string", ["a"])
    assert npy.relative_to(writer.root).as_posix() == array.replace(r"\(name)", "probs")
    assert listed.relative_to(writer.root).as_posix() == labels.replace(r"\(name)", "label")


def test_every_app_source_is_compiled_by_the_xcode_target_and_named_by_the_project_spec() -> None:
    folders = [APP / "App", KIT, COREML, APP / "JobTests"]
    on_disk = sorted(path.name for folder in folders for path in folder.glob("*.swift"))
    compiled = sorted(re.findall(r"/\* (\S+\.swift) in Sources \*/,", swift(PBXPROJ)))
    assert compiled == on_disk
    spec = swift(APP / "project.yml")
    for folder in folders:
        assert f"- path: {folder.relative_to(APP).as_posix()}" in spec


def test_deployment_target_is_one_version_that_covers_every_api_the_app_uses() -> None:
    spec = swift(APP / "project.yml")
    target = one(r'iOS: "([\d.]+)"', spec, "deploymentTarget in project.yml")
    assert one(r'IPHONEOS_DEPLOYMENT_TARGET: "([\d.]+)"', spec, "IPHONEOS_DEPLOYMENT_TARGET") == target
    assert set(re.findall(r"IPHONEOS_DEPLOYMENT_TARGET = ([\d.]+);", swift(PBXPROJ))) == {target}
    package = one(r"\.iOS\(\.v(\d+)\)", swift(APP / "Package.swift"), "iOS platform in Package.swift")
    assert float(target) == float(package)
    # Every Apple-only file opens with its review list: "(iOS 15.4 / macOS 12.3)", "(iOS 16)", ...
    needed = [
        (tuple(int(p) for p in version.split(".")), path.name)
        for path in [*(APP / "App").glob("*.swift"), *COREML.glob("*.swift")]
        for version in re.findall(r"\(iOS (\d+(?:\.\d+)?)", swift(path))
    ]
    assert needed, "the Apple API review lists were not found"
    newest, where = max(needed)
    assert newest <= tuple(int(p) for p in target.split(".")), f"{where} uses an iOS {newest} API"
