"""`mlharness package`: the job cases built as XCTest test products, written in the layouts the farms take.

On a Mac, `xcodebuild build-for-testing` builds the scheme `MLHarnessJobs` for a generic iOS device. The job
bundles are first copied to `OUT/jobs/<job id>/`, and that folder is passed as the build setting
`MLHARNESS_JOBS_DIR`: the test target's script phase copies it into the test bundle's `Jobs/` folder, where
`JobCases.carried(in:)` finds one case per job. The build's products are then checked (one `.xctestrun` naming
the job cases' test target, the app for `iphoneos` with the test bundle in its `PlugIns`, every packaged job
carried and intact) and written as each farm family asks:

    OUT/
      package.json                        what was packaged: jobs, artefacts with sizes and SHA-256
      jobs/<job id>/                      the carried job bundles
      aws-device-farm/
        MLHarnessCompanion.ipa            IOS_APP: Payload/MLHarnessCompanion.app
        MLHarnessJobTests.zip             XCTEST_UI_TEST_PACKAGE: the runner app and the .xctestrun at the root
        testspec.yml                      XCTEST_UI_TEST_SPEC: runs the .xctestrun, exports the .xcresult
      xctestrun/
        MLHarnessJobTests.zip             Debug-iphoneos/ and the .xctestrun, as in Build/Products: for
                                          `xcodebuild test-without-building` and Firebase Test Lab

The Device Farm test package follows AWS's "XCTest UI .zip package" layout: the runner app (here the companion
app, which hosts the unit-test bundle) and the `.xctestrun` at the root, so the `.xctestrun`'s `__TESTROOT__/
Debug-iphoneos/` paths are rewritten to `__TESTROOT__/`. Everything else is xcodebuild's own output, unchanged.
Without `team` the products are built unsigned (`CODE_SIGNING_ALLOWED=NO`), for farms that re-sign uploads.
"""

from __future__ import annotations

import hashlib
import json
import plistlib
import shutil
import stat
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlharness.errors import PackageError, TargetUnavailable, ToolError, ToolTimeout
from mlharness.farms.testspec import device_farm_test_spec
from mlharness.process import ProcessRunner
from mlharness.targets.base import COMPANION_APP_NAME
from mlharness.targets.files import copy_tree
from mlharness.xctest.names import TEST_BUNDLE
from mlupdate.bundle import read_job
from mlupdate.bundle.job_reader import JobBundle
from mlupdate.output_folder import remove_tree, write_atomic

SCHEME = "MLHarnessJobs"
CONFIGURATION = "Debug"
PLATFORM_FOLDER = f"{CONFIGURATION}-iphoneos"
TEST_BUNDLE_FOLDER = f"{TEST_BUNDLE}.xctest"
JOBS_SETTING = "MLHARNESS_JOBS_DIR"
JOBS = "jobs"
CARRIED_JOBS = "Jobs"  # inside the test bundle: JobCases.jobsFolder
MANIFEST = "package.json"
MANIFEST_KIND = "mlharness.package"
AWS = "aws-device-farm"
XCTESTRUN = "xctestrun"
IPA_NAME = COMPANION_APP_NAME.removesuffix(".app") + ".ipa"
TESTS_ZIP = f"{TEST_BUNDLE}.zip"
TEST_SPEC = "testspec.yml"
DEFAULT_DEADLINE = 1800.0
_TESTROOT = "__TESTROOT__/"
_TESTHOST = "__TESTHOST__/"
_PATH_KEYS = ("TestHostPath", "TestBundlePath", "UITargetAppPath", "DependentProductPaths")


@dataclass(frozen=True)
class Artefact:
    """One file written for a farm family: where it is (relative to OUT), what the family calls it."""

    family: str
    path: str
    role: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Products:
    """What `build-for-testing` made, checked: the `.xctestrun` (its plist), the app, the test bundle."""

    root: Path
    xctestrun: Path
    plist: dict[str, Any]
    app: Path

    @property
    def test_bundle(self) -> Path:
        return self.app / "PlugIns" / TEST_BUNDLE_FOLDER


def host_platform() -> str:
    return sys.platform


def require_xcodebuild(which: Callable[[str], str | None] = shutil.which) -> None:
    """Refuse (TargetUnavailable) on a host that cannot run `xcodebuild`, before anything is written."""
    platform = host_platform()
    if platform != "darwin":
        raise TargetUnavailable(
            f"building the XCTest products needs xcodebuild, which runs only on macOS; this host is {platform}",
            where="xcodebuild",
            fix="run `mlharness package` on a Mac with Xcode 16+ (or a macOS CI runner); nothing was written",
        )
    if which("xcodebuild") is None:
        raise TargetUnavailable(
            "xcodebuild is not on PATH",
            where="xcodebuild",
            fix="install Xcode and select it: sudo xcode-select -s /Applications/Xcode.app",
        )


class XcodeBuild:
    """`xcodebuild build-for-testing` of the job cases' scheme, as an argv list under a deadline."""

    def __init__(
        self,
        runner: ProcessRunner,
        *,
        developer_dir: str | None = None,
        team: str | None = None,
        timeout: float = DEFAULT_DEADLINE,
    ) -> None:
        self._runner = runner
        self._developer_dir = developer_dir
        self._team = team
        self._timeout = timeout

    @property
    def signed(self) -> bool:
        return self._team is not None

    def argv(self, project: Path, derived_data: Path, jobs: Path) -> list[str]:
        signing = (
            ["-allowProvisioningUpdates", f"DEVELOPMENT_TEAM={self._team}"]
            if self._team is not None
            else ["CODE_SIGNING_ALLOWED=NO"]
        )
        return [
            "xcodebuild",
            "build-for-testing",
            "-project", str(project),
            "-scheme", SCHEME,
            "-configuration", CONFIGURATION,
            "-sdk", "iphoneos",
            "-destination", "generic/platform=iOS",
            "-derivedDataPath", str(derived_data),
            f"{JOBS_SETTING}={jobs}",
            *signing,
        ]  # fmt: skip

    def build_for_testing(self, project: Path, derived_data: Path, jobs: Path) -> Path:
        """Build; return the products folder (`<derived data>/Build/Products`)."""
        env = {"DEVELOPER_DIR": self._developer_dir} if self._developer_dir else None
        try:
            self._runner.run(self.argv(project, derived_data, jobs), timeout=self._timeout, env=env)
        except ToolTimeout:
            raise
        except ToolError as exc:
            errors = build_errors(exc.stdout + "\n" + exc.stderr)
            raise ToolError(
                exc.argv,
                exc.returncode,
                exc.stderr,
                what=f"the build failed (exit {exc.returncode})" + "".join(f"\n  {line}" for line in errors),
                fix="fix the errors above (a signing error: pass --team, or build unsigned without it); the whole "
                "build log is what the same command prints in a terminal",
                stdout=exc.stdout,
            ) from None
        return derived_data / "Build" / "Products"


def build_errors(log: str, *, limit: int = 10) -> list[str]:
    """The `error:` lines of an xcodebuild log (compiler, linker, signing and usage errors), each once, the last
    `limit` of them: xcodebuild prints its build log, diagnostics included, on stdout."""
    lines = [line.strip() for line in log.splitlines() if "error: " in line]
    return list(dict.fromkeys(lines))[-limit:]


def read_jobs(folders: Sequence[Path]) -> list[JobBundle]:
    """The job bundles to package, each verified; two bundles with one job id are refused."""
    jobs = [read_job(folder) for folder in folders]
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.job_id in seen:
            raise PackageError(
                f"two job bundles have the job id {job.job_id!r} ({seen[job.job_id]} and {job.path})",
                where=str(job.path),
                fix="each case is named by its job id: give each job its own id (mlharness job --job-id)",
            )
        seen[job.job_id] = job.path
    return jobs


def build_package(jobs: Sequence[JobBundle], project: Path, out: Path, *, xcodebuild: XcodeBuild) -> list[Artefact]:
    """Carry `jobs`, build, check the products and write every farm family's artefacts into `out` (a new, empty
    staging folder); the build's scratch folder is removed afterwards."""
    carried = out / JOBS
    carried.mkdir()
    for job in jobs:
        copy_tree(job.path, carried / job.job_id, step="package")
    scratch = out / ".build"
    try:
        root = xcodebuild.build_for_testing(project.resolve(), scratch / "DerivedData", carried.resolve())
        products = check_products(root, [job.job_id for job in jobs])
        artefacts = [
            *write_device_farm(products, out / AWS, out),
            write_xctestrun_zip(products, out / XCTESTRUN / TESTS_ZIP, out),
        ]
    finally:
        remove_tree(scratch)
    _write_manifest(out, jobs, artefacts, products.xctestrun.name, signed=xcodebuild.signed)
    return artefacts


# -- checking what xcodebuild made ---------------------------------------------------------------------------


def check_products(root: Path, job_ids: Sequence[str]) -> Products:
    """The products of `build-for-testing` in `root`, refused (PackageError) unless a farm can run every job."""
    where = str(root)
    if not root.is_dir():
        raise PackageError("xcodebuild wrote no Build/Products folder", where=where, fix=_REBUILD)
    xctestrun = _one_xctestrun(root)
    plist = _read_plist(xctestrun)
    target = _test_target(plist, str(xctestrun))
    app = _resolve(str(target.get("TestHostPath", "")), root, None, f"{xctestrun.name}: TestHostPath")
    if app is None or app.name != COMPANION_APP_NAME or app.parent.name != PLATFORM_FOLDER:
        raise PackageError(
            f"the test host is {target.get('TestHostPath')!r}, not {_TESTROOT}{PLATFORM_FOLDER}/{COMPANION_APP_NAME}",
            where=f"{xctestrun}: TestHostPath",
            fix="build the MLHarnessJobs scheme for a generic iOS device (not the Simulator)",
        )
    for key, value in _product_paths(target):
        path = _resolve(value, root, app, f"{xctestrun.name}: {key}")
        if path is not None and not path.exists():
            raise PackageError(
                f"{key} names {value}, which the build did not produce", where=str(xctestrun), fix=_REBUILD
            )
    products = Products(root, xctestrun, plist, app)
    _check_carried(products, job_ids)
    return products


_REBUILD = "run `mlharness package` again; if it recurs, build the MLHarnessJobs scheme in Xcode to see why"


def _one_xctestrun(root: Path) -> Path:
    found = sorted(path for path in root.glob("*.xctestrun") if path.is_file() and not path.is_symlink())
    ours = [path for path in found if path.name.startswith(f"{SCHEME}_")]
    if len(ours) != 1:
        what = "no .xctestrun" if not ours else f"{len(ours)} .xctestrun files ({', '.join(p.name for p in ours)})"
        raise PackageError(f"xcodebuild wrote {what} for the scheme {SCHEME}", where=str(root), fix=_REBUILD)
    return ours[0]


def _read_plist(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = plistlib.load(handle)
    except (plistlib.InvalidFileException, ValueError, OSError) as exc:
        raise PackageError(f"not a readable property list ({exc})", where=str(path), fix=_REBUILD) from None
    if not isinstance(document, dict):
        raise PackageError("not an .xctestrun dictionary", where=str(path), fix=_REBUILD)
    return document


def _test_targets(plist: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every test target of an `.xctestrun`: format 2 lists them per test configuration, format 1 at the top."""
    configurations = plist.get("TestConfigurations")
    if isinstance(configurations, list):
        for configuration in configurations:
            targets = configuration.get("TestTargets") if isinstance(configuration, dict) else None
            yield from (target for target in targets or [] if isinstance(target, dict))
        return
    for key, value in plist.items():
        if not key.startswith("__") and isinstance(value, dict):
            yield {"BlueprintName": key, **value}


def _test_target(plist: Mapping[str, Any], where: str) -> dict[str, Any]:
    for target in _test_targets(plist):
        if target.get("BlueprintName") == TEST_BUNDLE:
            return target
    raise PackageError(
        f"the .xctestrun has no {TEST_BUNDLE} test target",
        where=where,
        fix=f"build the {SCHEME} scheme (its test action runs {TEST_BUNDLE})",
    )


def _product_paths(target: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key in _PATH_KEYS:
        value = target.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                yield key, item


def _resolve(value: str, root: Path, host: Path | None, where: str) -> Path | None:
    """A product path of the `.xctestrun` on this host; None for one outside the products (e.g. __PLATFORMS__)."""
    if value.startswith(_TESTROOT):
        relative, base = value[len(_TESTROOT) :], root
    elif value.startswith(_TESTHOST) and host is not None:
        relative, base = value[len(_TESTHOST) :], host
    else:
        return None
    parts = PurePosixPath(relative).parts
    if not parts or ".." in parts:
        raise PackageError(f"the product path {value!r} leaves the products folder", where=where, fix=_REBUILD)
    return base.joinpath(*parts)


def _check_carried(products: Products, job_ids: Sequence[str]) -> None:
    where = str(products.test_bundle)
    if not products.test_bundle.is_dir():
        raise PackageError(
            f"the app carries no {TEST_BUNDLE_FOLDER} in its PlugIns", where=str(products.app), fix=_REBUILD
        )
    folder = products.test_bundle / CARRIED_JOBS
    carried = (
        sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith(".")) if folder.is_dir() else []
    )
    if carried != sorted(job_ids):
        raise PackageError(
            f"the test bundle carries {carried or 'no job'}, not the packaged {sorted(job_ids)}",
            where=f"{where}/{CARRIED_JOBS}",
            fix=f"the {TEST_BUNDLE} target's script phase copies ${JOBS_SETTING} into {CARRIED_JOBS}/: check that "
            "the project still has it (tests/app/test_project_files.py)",
        )
    for job_id in job_ids:
        if read_job(folder / job_id).job_id != job_id:
            raise PackageError(f"{CARRIED_JOBS}/{job_id} holds another job", where=where, fix=_REBUILD)


# -- writing the farm families' artefacts --------------------------------------------------------------------


def write_device_farm(products: Products, folder: Path, out: Path) -> list[Artefact]:
    """AWS Device Farm: the app as an `.ipa`, the XCTEST_UI test package and the test spec that runs it."""
    folder.mkdir(parents=True)
    app = products.app
    payload: Entry = (None, PurePosixPath("Payload"), None)
    ipa = _zip(folder / IPA_NAME, [payload, *_tree(app, PurePosixPath("Payload", app.name))])
    rewritten = _flatten_testroot(products.plist)
    run = [(None, PurePosixPath(products.xctestrun.name), plistlib.dumps(rewritten, fmt=plistlib.FMT_XML))]
    tests = _zip(folder / TESTS_ZIP, [*_tree(app, PurePosixPath(app.name)), *run])
    spec = write_atomic(folder / TEST_SPEC, device_farm_test_spec(products.xctestrun.name).encode("utf-8"))
    return [
        _artefact(AWS, ipa, "IOS_APP", out),
        _artefact(AWS, tests, "XCTEST_UI_TEST_PACKAGE", out),
        _artefact(AWS, spec, "XCTEST_UI_TEST_SPEC", out),
    ]


def write_xctestrun_zip(products: Products, archive: Path, out: Path) -> Artefact:
    """The `.xctestrun` and `Debug-iphoneos/` as `Build/Products` holds them (xcodebuild test-without-building)."""
    archive.parent.mkdir(parents=True)
    platform = products.app.parent
    entries = [
        *_tree(platform, PurePosixPath(platform.name)),
        (products.xctestrun, PurePosixPath(products.xctestrun.name), None),
    ]
    return _artefact(XCTESTRUN, _zip(archive, entries), "xctestrun zip", out)


def _flatten_testroot(plist: Any) -> Any:
    """The `.xctestrun` with `__TESTROOT__/Debug-iphoneos/` read as `__TESTROOT__/` (the app at the zip's root)."""
    nested = f"{_TESTROOT}{PLATFORM_FOLDER}/"
    if isinstance(plist, dict):
        return {key: _flatten_testroot(value) for key, value in plist.items()}
    if isinstance(plist, list):
        return [_flatten_testroot(value) for value in plist]
    if isinstance(plist, str) and plist.startswith(nested):
        return _TESTROOT + plist[len(nested) :]
    return plist


Entry = tuple[Path | None, PurePosixPath, bytes | None]


def _tree(folder: Path, name: PurePosixPath) -> list[Entry]:
    """`folder` and everything in it as zip entries under `name`: folders, files, links kept as links."""
    entries: list[Entry] = [(folder, name, None)]
    for path in sorted(folder.rglob("*")):
        entries.append((path, name / path.relative_to(folder).as_posix(), None))
    return entries


def _zip(archive: Path, entries: Iterable[Entry]) -> Path:
    """A zip with Unix modes (the executables stay executable) and links stored as links, like `zip -ry`."""
    with zipfile.ZipFile(archive, "x", zipfile.ZIP_DEFLATED) as out:
        for source, name, data in entries:
            if source is None and data is None:  # a folder made here
                out.writestr(_info(f"{name}/", 0o40755), b"")
                continue
            if source is None:  # a file made here
                out.writestr(_info(f"{name}", 0o100644), data or b"")
                continue
            mode = source.lstat().st_mode
            if stat.S_ISLNK(mode):
                out.writestr(_info(f"{name}", mode), str(source.readlink()))
            elif stat.S_ISDIR(mode):
                out.writestr(_info(f"{name}/", mode), b"")
            elif stat.S_ISREG(mode):
                out.write(source, f"{name}")
            else:
                raise PackageError("a product is not a file, folder or link", where=str(source), fix=_REBUILD)
    return archive


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # Unix: the mode below is read by unzip and by the farms' tools
    info.external_attr = (mode & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _artefact(family: str, path: Path, role: str, out: Path) -> Artefact:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return Artefact(family, path.relative_to(out).as_posix(), role, digest.hexdigest(), path.stat().st_size)


def _write_manifest(
    out: Path, jobs: Sequence[JobBundle], artefacts: Sequence[Artefact], xctestrun: str, *, signed: bool
) -> Path:
    document = {
        "kind": MANIFEST_KIND,
        "schema_version": 1,
        "scheme": SCHEME,
        "test_bundle": TEST_BUNDLE,
        "xctestrun": xctestrun,
        "signed": signed,
        "jobs": [job.job_id for job in jobs],
        "artefacts": [artefact.__dict__ for artefact in artefacts],
    }
    return write_atomic(out / MANIFEST, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
