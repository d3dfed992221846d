"""A fake `xcodebuild`, run as a real child process by tests/xctest/test_package.py.

`make_executable(folder, mode)` writes an executable `xcodebuild` that behaves like the real one for
`xcodebuild build-for-testing -project P -scheme MLHarnessJobs ... -derivedDataPath D MLHARNESS_JOBS_DIR=J`: it
writes `D/Build/Products` the way Xcode lays out an app-hosted unit-test bundle built for a generic iOS device
(`Debug-iphoneos/MLHarnessCompanion.app` with `PlugIns/MLHarnessJobTests.xctest` and the embedded XCTest
frameworks; `MLHarnessJobs_iphoneos18.2-arm64.xctestrun`, format version 2, with the keys Xcode 16 writes for
such a target), and runs the test target's script phase: `J/.` copied into the test bundle's `Jobs/`. The
binaries are placeholders, not Mach-O. Its argv is appended as one JSON line to `$FAKE_XCODEBUILD_ARGV`.

Modes: succeed | fail (exit 65 with a compiler error, like a failed build) | no-script-phase (the jobs are not
copied) | simulator (the products of an iphonesimulator build) | wrong-scheme (an .xctestrun without the job
cases' target) | missing-product (the .xctestrun names a product that was not built) | hang.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import sys
import time
from pathlib import Path

APP = "MLHarnessCompanion.app"
TESTS = "MLHarnessJobTests"
XCTESTRUN = "MLHarnessJobs_iphoneos18.2-arm64.xctestrun"


def make_executable(folder: Path, mode: str) -> Path:
    """An executable `xcodebuild` in `folder` that runs this module in `mode` with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "xcodebuild"
    run = f"runpy.run_path({str(Path(__file__))!r}, run_name='__main__')"
    path.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv.insert(1, {mode!r})\n{run}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _setting(argv: list[str], name: str) -> str | None:
    return next((arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{name}=")), None)


def _binary(path: Path, text: str) -> None:
    path.write_bytes(b"\xcf\xfa\xed\xfe placeholder, not Mach-O: " + text.encode())
    path.chmod(0o755)


def _bundle(folder: Path, executable: str, identifier: str, package_type: str) -> None:
    folder.mkdir(parents=True)
    info = {
        "CFBundleExecutable": executable,
        "CFBundleIdentifier": identifier,
        "CFBundlePackageType": package_type,
        "CFBundleSupportedPlatforms": ["iPhoneOS"],
        "DTPlatformName": "iphoneos",
        "DTSDKName": "iphoneos18.2",
        "MinimumOSVersion": "16.0",
    }
    (folder / "Info.plist").write_bytes(plistlib.dumps(info, fmt=plistlib.FMT_BINARY))
    _binary(folder / executable, executable)


def _target(platform: str, *, missing: bool) -> dict[str, object]:
    root = f"__TESTROOT__/{platform}/{APP}"
    dependent = [root, f"{root}/PlugIns/{TESTS}.xctest"]
    if missing:
        dependent.append(f"__TESTROOT__/{platform}/MLHarnessWidget.appex")
    return {
        "BlueprintName": TESTS,
        "BlueprintProviderName": "MLHarnessCompanion",
        "BlueprintProviderRelativePath": "MLHarnessCompanion.xcodeproj",
        "BundleIdentifiersForCrashReportEmphasis": ["org.mlupdate.companion", "org.mlupdate.companion.jobtests"],
        "CommandLineArguments": [],
        "DefaultTestExecutionTimeAllowance": 600,
        "DependentProductPaths": dependent,
        "EnvironmentVariables": {"OS_ACTIVITY_DT_MODE": "YES"},
        "IsAppHostedTestBundle": True,
        "ProductModuleName": TESTS,
        "SystemAttachmentLifetime": "deleteOnSuccess",
        "TestBundlePath": f"__TESTHOST__/PlugIns/{TESTS}.xctest",
        "TestHostBundleIdentifier": "org.mlupdate.companion",
        "TestHostPath": root,
        "TestTimeoutsEnabled": False,
        "TestingEnvironmentVariables": {
            "DYLD_INSERT_LIBRARIES": "__TESTHOST__/Frameworks/libXCTestBundleInject.dylib",
            "XCInjectBundleInto": "unused",
        },
        "ToolchainsSettingValue": [],
        "UserAttachmentLifetime": "deleteOnSuccess",
    }


def build(mode: str, argv: list[str]) -> int:
    if argv[:1] != ["build-for-testing"] or _option(argv, "-scheme") != "MLHarnessJobs":
        print(f"xcodebuild: error: unexpected arguments {argv}", file=sys.stderr)
        return 64
    if mode == "hang":
        time.sleep(3600)
    print(
        "Command line invocation:\n    /Applications/Xcode.app/Contents/Developer/usr/bin/xcodebuild " + " ".join(argv)
    )
    if mode == "fail":  # xcodebuild prints its diagnostics in the build log, on stdout
        print("SwiftCompile normal arm64 /src/ios_app/JobTests/MLHarnessJobTests.swift")
        print("/src/ios_app/JobTests/MLHarnessJobTests.swift:42:13: error: cannot find 'JobCases' in scope")
        print("** TEST BUILD FAILED **\n\nThe following build commands failed:")
        print("\tSwiftCompile normal arm64 /src/ios_app/JobTests/MLHarnessJobTests.swift")
        return 65
    products = Path(_option(argv, "-derivedDataPath")) / "Build" / "Products"
    platform = "Debug-iphonesimulator" if mode == "simulator" else "Debug-iphoneos"
    app = products / platform / APP
    _bundle(app, "MLHarnessCompanion", "org.mlupdate.companion", "APPL")
    (app / "PkgInfo").write_text("APPL????", encoding="ascii")
    frameworks = app / "Frameworks"
    _bundle(frameworks / "XCTest.framework", "XCTest", "com.apple.dt.XCTest", "FMWK")
    _binary(frameworks / "libXCTestSwiftSupport.dylib", "libXCTestSwiftSupport")
    _binary(frameworks / "libXCTestBundleInject.dylib", "libXCTestBundleInject")
    tests = app / "PlugIns" / f"{TESTS}.xctest"
    _bundle(tests, TESTS, "org.mlupdate.companion.jobtests", "BNDL")
    # The script phase "Carry the job bundles" (ios_app/project.yml): rm -rf Jobs; mkdir -p Jobs; cp -R $DIR/. Jobs/
    carried = tests / "Jobs"
    carried.mkdir()
    jobs = _setting(argv, "MLHARNESS_JOBS_DIR")
    if jobs and mode != "no-script-phase":
        shutil.copytree(jobs, carried, dirs_exist_ok=True)
    print("PhaseScriptExecution Carry\\ the\\ job\\ bundles ...")
    target = _target(platform, missing=mode == "missing-product")
    if mode == "wrong-scheme":
        target["BlueprintName"] = "MLHarnessCompanionTests"
    xctestrun = {
        "__xctestrun_metadata__": {"FormatVersion": 2},
        "ContainerInfo": {"ContainerName": "MLHarnessCompanion", "SchemeName": "MLHarnessJobs"},
        "CodeCoverageBuildableInfos": [],
        "TestConfigurations": [{"Name": "Test Scheme Action", "TestTargets": [target]}],
        "TestPlan": {"IsDefault": True, "Name": "MLHarnessJobs"},
    }
    name = XCTESTRUN.replace("iphoneos", "iphonesimulator") if mode == "simulator" else XCTESTRUN
    (products / name).write_bytes(plistlib.dumps(xctestrun, fmt=plistlib.FMT_XML))
    print("** TEST BUILD SUCCEEDED **")
    return 0


def main() -> int:
    mode, argv = sys.argv[1], sys.argv[2:]
    log = os.environ.get("FAKE_XCODEBUILD_ARGV")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(argv) + "\n")
    return build(mode, argv)


if __name__ == "__main__":
    sys.exit(main())
