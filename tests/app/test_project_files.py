"""Both ways of building the companion compile the same files into the same targets.

The checked-in `MLHarnessCompanion.xcodeproj` lists every source file by hand; `xcodegen generate --spec
ios_app/project.yml` takes whole folders. For the app and for the XCTest job cases (`MLHarnessJobTests`, hosted
in the app) this test requires the project's list to be exactly the folders' Swift files, and the two routes to
agree on how the test bundle is hosted, which job bundles it carries (the script phase) and the scheme that
builds it for testing (`mlharness package` runs `xcodebuild build-for-testing -scheme MLHarnessJobs`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from pbxproj import XcodeProject

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ios_app"
PROJECT = APP / "MLHarnessCompanion.xcodeproj"
APP_TARGET = "MLHarnessCompanion"
TEST_TARGET = "MLHarnessJobTests"
SCHEME = "MLHarnessJobs"
# The settings that make the test bundle a hosted one that carries jobs: both routes must give them the same values.
HOSTING = (
    "TEST_HOST",
    "BUNDLE_LOADER",
    "PRODUCT_BUNDLE_IDENTIFIER",
    "GENERATE_INFOPLIST_FILE",
    "ENABLE_USER_SCRIPT_SANDBOXING",
    "MLHARNESS_JOBS_DIR",
)


def project() -> XcodeProject:
    return XcodeProject.load(str(PROJECT / "project.pbxproj"))


def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((APP / "project.yml").read_text(encoding="utf-8"))
    return loaded


def _target(xcode: XcodeProject, name: str) -> Any:
    (target,) = xcode.objects.get_targets(name)
    return target


def _parents(xcode: XcodeProject) -> dict[str, Any]:
    parents = {}
    for group in xcode.objects.get_objects_in_section("PBXGroup"):
        for child in group.children:
            parents[child] = group
    return parents


def project_sources(xcode: XcodeProject, target_name: str) -> set[str]:
    """The files a target's Sources phase compiles, as paths relative to ios_app/."""
    parents = _parents(xcode)
    target = _target(xcode, target_name)
    (phase,) = [xcode.objects[p] for p in target.buildPhases if xcode.objects[p].isa == "PBXSourcesBuildPhase"]
    paths = set()
    for build_file in phase.files:
        reference = xcode.objects[xcode.objects[build_file].fileRef]
        parts = [str(reference.path)]
        group = parents.get(reference.get_id())
        while group is not None:
            if group.get("path", None):
                parts.append(str(group.path))
            group = parents.get(group.get_id())
        paths.add("/".join(reversed(parts)))
    return paths


def spec_sources(document: dict[str, Any], target_name: str) -> set[str]:
    """The Swift files XcodeGen puts in a target: every `.swift` under its source folders, minus excludes."""
    paths = set()
    for source in document["targets"][target_name]["sources"]:
        entry = {"path": source} if isinstance(source, str) else source
        excluded = set(entry.get("excludes", []))
        for file in sorted((APP / entry["path"]).rglob("*.swift")):
            if file.relative_to(APP / entry["path"]).as_posix() not in excluded:
                paths.add(file.relative_to(APP).as_posix())
    return paths


def folder_sources(*folders: str) -> set[str]:
    return {p.relative_to(APP).as_posix() for folder in folders for p in sorted((APP / folder).rglob("*.swift"))}


def differences(listed: set[str], on_disk: set[str]) -> dict[str, list[str]]:
    return {"not in the project": sorted(on_disk - listed), "in the project, not on disk": sorted(listed - on_disk)}


NO_DIFFERENCE = {"not in the project": [], "in the project, not on disk": []}


@pytest.mark.parametrize(
    ("target_name", "folders"),
    [
        (APP_TARGET, ("App", "Sources/CompanionKit", "Sources/CompanionCoreML")),
        (TEST_TARGET, ("JobTests",)),
    ],
)
def test_each_target_compiles_exactly_its_folders_swift_files_in_both_routes(
    target_name: str, folders: tuple[str, ...]
) -> None:
    on_disk = folder_sources(*folders)
    assert on_disk, f"no Swift files under {folders}"
    assert differences(project_sources(project(), target_name), on_disk) == NO_DIFFERENCE
    assert differences(spec_sources(spec(), target_name), on_disk) == NO_DIFFERENCE


def test_a_swift_file_missing_from_the_project_is_named() -> None:
    """The check bites: a new file in JobTests that nobody added to the project is reported by its path."""
    listed = project_sources(project(), TEST_TARGET)
    on_disk = folder_sources("JobTests") | {"JobTests/NewCase.swift"}
    assert differences(listed, on_disk)["not in the project"] == ["JobTests/NewCase.swift"]


def _settings(build_settings: Any) -> dict[str, str]:
    return {key: _plain(build_settings[key]) for key in build_settings.get_keys()}


def _plain(value: object) -> str:
    # XcodeGen writes YAML booleans as YES/NO.
    if isinstance(value, bool):
        return "YES" if value else "NO"
    return str(value)


def test_the_test_bundle_is_hosted_in_the_app_the_same_way_in_both_routes() -> None:
    xcode = project()
    target = _target(xcode, TEST_TARGET)
    assert target.productType == "com.apple.product-type.bundle.unit-test"
    (dependency,) = target.dependencies
    assert xcode.objects[xcode.objects[dependency].target].name == APP_TARGET
    configurations = list(xcode.objects.get_configurations_on_targets(TEST_TARGET))
    from_project = [{k: v for k, v in _settings(c.buildSettings).items() if k in HOSTING} for c in configurations]
    spec_target = spec()["targets"][TEST_TARGET]
    from_spec = {k: _plain(v) for k, v in spec_target["settings"]["base"].items() if k in HOSTING}
    assert [c.name for c in configurations] == ["Debug", "Release"]
    assert all(settings == from_spec for settings in from_project), (from_project, from_spec)
    assert set(from_spec) == set(HOSTING)
    assert from_spec["TEST_HOST"].startswith(f"$(BUILT_PRODUCTS_DIR)/{APP_TARGET}.app/")
    assert [d["target"] for d in spec_target["dependencies"]] == [APP_TARGET]


def test_both_routes_carry_the_job_bundles_with_the_same_script() -> None:
    xcode = project()
    target = _target(xcode, TEST_TARGET)
    scripts = [xcode.objects[p] for p in target.buildPhases if xcode.objects[p].isa == "PBXShellScriptBuildPhase"]
    (script,) = scripts
    assert target.buildPhases[-1] == script.get_id(), "the jobs are copied after the bundle is built, before signing"
    (spec_script,) = spec()["targets"][TEST_TARGET]["postBuildScripts"]
    assert spec_script["name"] == script.name
    assert str(script.shellScript).strip() == spec_script["script"].strip()
    assert "MLHARNESS_JOBS_DIR" in spec_script["script"] and "/Jobs" in spec_script["script"]


def test_the_scheme_builds_the_app_and_tests_the_job_cases() -> None:
    root = ET.parse(PROJECT / "xcshareddata" / "xcschemes" / f"{SCHEME}.xcscheme").getroot()
    built = {
        reference.get("BlueprintName"): entry.get("buildForTesting")
        for entry in root.iter("BuildActionEntry")
        for reference in entry.iter("BuildableReference")
    }
    tested = [r.get("BlueprintName") for action in root.iter("TestAction") for r in action.iter("BuildableReference")]
    xcode = project()
    blueprints = {r.get("BlueprintName"): r.get("BlueprintIdentifier") for r in root.iter("BuildableReference")}
    assert built == {APP_TARGET: "YES", TEST_TARGET: "YES"}
    assert tested == [TEST_TARGET]
    assert all(_target(xcode, name).get_id() == identifier for name, identifier in blueprints.items())
    scheme = spec()["schemes"][SCHEME]
    assert scheme["test"]["targets"] == [TEST_TARGET]
    assert set(scheme["build"]["targets"]) == {APP_TARGET, TEST_TARGET}
