"""`mlharness package` against a fake xcodebuild run as a real child process (tests/xctest/fake_xcodebuild.py).

Nothing here builds or runs on a Mac, a device or a farm: the fake writes the Products folder Xcode writes for the
job cases, and these tests check the command line given to xcodebuild, the checks of what it made, and the
layout of every farm family's artefacts.
"""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import stat
import zipfile
from pathlib import Path, PurePosixPath

import pytest
import yaml

from mlharness.cli import main
from mlharness.errors import PackageError, ToolError, ToolTimeout
from mlharness.process import Reply, ScriptedRunner, SubprocessRunner
from mlharness.xctest import package
from mlupdate.bundle import read_job
from mlupdate.output_folder import read_marker

from .fake_xcodebuild import XCTESTRUN, make_executable

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "ios_app" / "MLHarnessCompanion.xcodeproj"
JOBS = REPO / "tests" / "data" / "contract" / "jobs"
JOB_IDS = ("golden-classifier-image", "golden-knn-pipeline")
APP = "MLHarnessCompanion.app"


@pytest.fixture
def mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This host dressed as a Mac whose xcodebuild is the fake (succeeding unless a test says otherwise)."""
    monkeypatch.setattr(package, "host_platform", lambda: "darwin")
    argv_log = tmp_path / "xcodebuild-argv.jsonl"
    monkeypatch.setenv("FAKE_XCODEBUILD_ARGV", str(argv_log))
    return argv_log


def use_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    bin_dir = make_executable(tmp_path / f"bin-{mode}", mode).parent
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def package_argv(out: Path, *extra: str) -> list[str]:
    return ["package", *(str(JOBS / job) for job in JOB_IDS), "-o", str(out), "--project", str(PROJECT), *extra]


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as opened:
        return opened.namelist()


def unzip(archive: Path, dest: Path) -> Path:
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(dest)
    return dest


def resolved_product_paths(xctestrun: Path) -> list[Path]:
    """Every product the `.xctestrun` names, resolved the way xcodebuild does (__TESTROOT__ is its folder)."""
    plist = plistlib.loads(xctestrun.read_bytes())
    (target,) = plist["TestConfigurations"][0]["TestTargets"]
    host = Path(target["TestHostPath"].replace("__TESTROOT__", str(xctestrun.parent)))
    paths = [target["TestHostPath"], target["TestBundlePath"], *target["DependentProductPaths"]]
    return [Path(p.replace("__TESTROOT__", str(xctestrun.parent)).replace("__TESTHOST__", str(host))) for p in paths]


def test_on_linux_it_refuses_naming_xcodebuild_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(package, "host_platform", lambda: "linux")
    out = tmp_path / "pkg"

    assert main(package_argv(out)) == 2

    err = capsys.readouterr().err
    assert "needs xcodebuild, which runs only on macOS; this host is linux" in err
    assert "nothing was written" in err
    assert not out.exists()


def test_a_mac_without_xcodebuild_is_told_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "host_platform", lambda: "darwin")
    with pytest.raises(Exception, match="xcodebuild is not on PATH") as caught:
        package.require_xcodebuild(which=lambda name: None)
    assert "xcode-select" in str(caught.value.fix)  # type: ignore[attr-defined]


def test_the_build_is_one_argv_with_the_jobs_folder_the_deadline_and_the_chosen_xcode(tmp_path: Path) -> None:
    runner = ScriptedRunner({("xcodebuild", "build-for-testing"): Reply(stdout="** TEST BUILD SUCCEEDED **")})
    unsigned = package.XcodeBuild(runner, developer_dir="/Applications/Xcode-16.2.app", timeout=90.0)

    products = unsigned.build_for_testing(PROJECT, tmp_path / "dd", tmp_path / "jobs")

    ((argv, env),) = runner.calls
    assert argv[:2] == ["xcodebuild", "build-for-testing"]
    assert argv[argv.index("-scheme") + 1] == "MLHarnessJobs"
    assert argv[argv.index("-destination") + 1] == "generic/platform=iOS"
    assert argv[argv.index("-sdk") + 1] == "iphoneos"
    assert f"MLHARNESS_JOBS_DIR={tmp_path / 'jobs'}" in argv
    assert "CODE_SIGNING_ALLOWED=NO" in argv and not any(a.startswith("DEVELOPMENT_TEAM=") for a in argv)
    assert env == {"DEVELOPER_DIR": "/Applications/Xcode-16.2.app"}
    assert products == tmp_path / "dd" / "Build" / "Products"

    signed = package.XcodeBuild(runner, team="ABCDE12345").argv(PROJECT, tmp_path / "dd", tmp_path / "jobs")
    assert "DEVELOPMENT_TEAM=ABCDE12345" in signed and "-allowProvisioningUpdates" in signed
    assert "CODE_SIGNING_ALLOWED=NO" not in signed


SIGNING_LOG = """\
Prepare packages

ComputeTargetDependencyGraph
note: Building targets in dependency order
/src/ios_app/MLHarnessCompanion.xcodeproj: error: Signing for "MLHarnessJobTests" requires a development team. \
Select a development team in the Signing & Capabilities editor. (in target 'MLHarnessJobTests' from project \
'MLHarnessCompanion')
/src/ios_app/MLHarnessCompanion.xcodeproj: error: Signing for "MLHarnessJobTests" requires a development team. \
Select a development team in the Signing & Capabilities editor. (in target 'MLHarnessJobTests' from project \
'MLHarnessCompanion')
** TEST BUILD FAILED **
"""


def test_a_failed_build_names_each_error_of_its_log_once_and_the_fix(tmp_path: Path) -> None:
    runner = ScriptedRunner({("xcodebuild",): Reply(stdout=SIGNING_LOG, returncode=65)})
    with pytest.raises(ToolError) as caught:
        package.XcodeBuild(runner, team="ABCDE12345").build_for_testing(PROJECT, tmp_path / "dd", tmp_path / "jobs")
    message = str(caught.value)
    assert message.count('error: Signing for "MLHarnessJobTests" requires a development team') == 1
    assert caught.value.returncode == 65 and caught.value.argv[:2] == ["xcodebuild", "build-for-testing"]
    assert "--team" in str(caught.value.fix)


def test_a_package_holds_every_farm_familys_artefacts_in_the_layout_it_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mac: Path
) -> None:
    use_fake(tmp_path, monkeypatch, "succeed")
    out = tmp_path / "pkg"

    assert main(package_argv(out)) == 0

    # xcodebuild was given the carried-jobs folder the script phase copies from, unsigned.
    (argv,) = [json.loads(line) for line in mac.read_text(encoding="utf-8").splitlines()]
    jobs_setting = next(a for a in argv if a.startswith("MLHARNESS_JOBS_DIR="))
    assert Path(jobs_setting.split("=", 1)[1]).name == "jobs" and "CODE_SIGNING_ALLOWED=NO" in argv
    assert sorted(p.name for p in out.iterdir()) == [
        ".mlharness-output.json", "aws-device-farm", "jobs", "package.json", "xctestrun"
    ]  # fmt: skip
    assert read_marker(out) == "package"
    assert [read_job(out / "jobs" / job).job_id for job in JOB_IDS] == list(JOB_IDS)

    # AWS Device Farm, the app: Payload/<app>, the executable still executable, the jobs inside the test bundle.
    ipa = out / "aws-device-farm" / "MLHarnessCompanion.ipa"
    assert {PurePosixPath(name).parts[:2] for name in names(ipa)} == {("Payload",), ("Payload", APP)}
    with zipfile.ZipFile(ipa) as opened:
        mode = opened.getinfo(f"Payload/{APP}/MLHarnessCompanion").external_attr >> 16
    assert stat.S_ISREG(mode) and mode & 0o111
    carried = unzip(ipa, tmp_path / "ipa") / "Payload" / APP / "PlugIns" / "MLHarnessJobTests.xctest" / "Jobs"
    assert [read_job(carried / job).job_id for job in JOB_IDS] == list(JOB_IDS)

    # AWS Device Farm, the XCTEST_UI test package: the runner app and the .xctestrun at the root, every product
    # it names present where xcodebuild will look.
    tests_zip = out / "aws-device-farm" / "MLHarnessJobTests.zip"
    assert {PurePosixPath(name).parts[0] for name in names(tests_zip)} == {APP, XCTESTRUN}
    unpacked = unzip(tests_zip, tmp_path / "aws")
    paths = resolved_product_paths(unpacked / XCTESTRUN)
    assert paths[0] == unpacked / APP and all(path.exists() for path in paths)
    spec = yaml.safe_load((out / "aws-device-farm" / "testspec.yml").read_text(encoding="utf-8"))
    assert f'"$DEVICEFARM_XCTEST_BUILD_DIRECTORY/{XCTESTRUN}"' in " ".join(spec["phases"]["test"]["commands"])

    # The .xctestrun zip: Build/Products as xcodebuild wrote it (Debug-iphoneos/ and the .xctestrun).
    xctestrun_zip = out / "xctestrun" / "MLHarnessJobTests.zip"
    assert {PurePosixPath(name).parts[0] for name in names(xctestrun_zip)} == {"Debug-iphoneos", XCTESTRUN}
    unpacked = unzip(xctestrun_zip, tmp_path / "xctestrun")
    paths = resolved_product_paths(unpacked / XCTESTRUN)
    assert paths[0] == unpacked / "Debug-iphoneos" / APP and all(path.exists() for path in paths)

    # package.json names each artefact with its size and hash; the build's scratch folder is gone.
    manifest = json.loads((out / "package.json").read_text(encoding="utf-8"))
    assert (manifest["jobs"], manifest["xctestrun"], manifest["signed"]) == (list(JOB_IDS), XCTESTRUN, False)
    roles = {entry["role"]: entry for entry in manifest["artefacts"]}
    assert set(roles) == {"IOS_APP", "XCTEST_UI_TEST_PACKAGE", "XCTEST_UI_TEST_SPEC", "xctestrun zip"}
    for entry in manifest["artefacts"]:
        data = (out / entry["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])
    assert not (out / ".build").exists()

    # Run again: its own output is replaced; a folder it did not write is kept.
    assert main(package_argv(out)) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep", encoding="utf-8")
    assert main(package_argv(mine)) == 2
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize(
    ("mode", "error", "what"),
    [
        ("no-script-phase", PackageError, "the test bundle carries no job, not the packaged"),
        ("simulator", PackageError, "not __TESTROOT__/Debug-iphoneos/MLHarnessCompanion.app"),
        ("wrong-scheme", PackageError, "the .xctestrun has no MLHarnessJobTests test target"),
        ("missing-product", PackageError, "MLHarnessWidget.appex, which the build did not produce"),
        ("fail", ToolError, "the build failed (exit 65)"),
    ],
)
def test_products_a_farm_could_not_run_are_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mac: Path, mode: str, error: type[Exception], what: str
) -> None:
    use_fake(tmp_path, monkeypatch, mode)
    out = tmp_path / "pkg"
    jobs = package.read_jobs([JOBS / job for job in JOB_IDS])
    xcodebuild = package.XcodeBuild(SubprocessRunner())
    staging = tmp_path / "staging"
    staging.mkdir()

    with pytest.raises(error) as caught:
        package.build_package(jobs, PROJECT, staging, xcodebuild=xcodebuild)

    assert what in str(caught.value)
    assert not (staging / ".build").exists(), "the build's scratch folder is removed on failure too"
    if mode == "fail":  # the compiler's error, from the build log on stdout, is in the message
        assert "MLHarnessJobTests.swift:42:13: error: cannot find 'JobCases' in scope" in str(caught.value)
    assert main(package_argv(out)) == 2
    assert not out.exists()


def test_xcodebuild_past_its_deadline_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mac: Path) -> None:
    use_fake(tmp_path, monkeypatch, "hang")
    jobs = package.read_jobs([JOBS / JOB_IDS[0]])
    xcodebuild = package.XcodeBuild(SubprocessRunner(), timeout=1.0)
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(ToolTimeout, match="did not finish within 1 s"):
        package.build_package(jobs, PROJECT, staging, xcodebuild=xcodebuild)


def test_two_job_bundles_with_one_id_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="two job bundles have the job id 'golden-classifier-image'"):
        package.read_jobs([JOBS / JOB_IDS[0], JOBS / JOB_IDS[0]])
