"""The Linux type-check of the Core ML runner bites: `ios_app/TypeCheck` compiles `CompanionCoreML`,
`companion-macos` and the XCTest job cases (`JobTests`) against hand-written Apple API shims (Swift 6, warnings as
errors), a correct fixture that uses the same APIs type-checks, and every deliberately wrong fixture is refused
with the diagnostic it names. Skips when no Swift toolchain is on PATH."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ios_app" / "TypeCheck"
FIXTURES = PACKAGE / "Fixtures"
WRONG = sorted(FIXTURES.glob("wrong-*.swift"))
TIMEOUT = 1800
EXPECT = re.compile(r"^// expect: (?P<text>.+)$", re.MULTILINE)

pytestmark = pytest.mark.xdist_group("swift-typecheck")


@pytest.fixture(scope="module")
def modules() -> Path:
    """Build the type-check package (shims + the runner's real sources) and return its module folder."""
    swift = shutil.which("swift")
    if swift is None:
        pytest.skip("swift is not on PATH: install a Swift 6 toolchain to type-check the Core ML runner")
    build = subprocess.run(
        [swift, "build", "--package-path", str(PACKAGE)], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert build.returncode == 0, f"the runner does not type-check against the shims:\n{build.stdout}{build.stderr}"
    bin_path = subprocess.run(
        [swift, "build", "--package-path", str(PACKAGE), "--show-bin-path"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    ).stdout.strip()
    return Path(bin_path) / "Modules"


def typecheck(modules: Path, source: Path) -> subprocess.CompletedProcess[str]:
    swiftc = shutil.which("swiftc")
    assert swiftc is not None
    argv = [swiftc, "-typecheck", "-swift-version", "6", "-warnings-as-errors", "-I", str(modules), str(source)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_runner_sources_are_what_is_checked() -> None:
    for name in ("CompanionKit", "CompanionCoreML", "companion-macos"):
        link = PACKAGE / "Checked" / name
        assert link.is_symlink(), f"{link} must link to the shipped sources, not copy them"
        assert link.resolve() == (REPO / "ios_app" / "Sources" / name).resolve()


def test_the_xctest_job_cases_are_checked_every_file(modules: Path) -> None:
    """ios_app/JobTests (the XCTest target hosted in the app) compiles here against the XCTest and Objective-C
    runtime shims: the link is to the shipped folder, and its module was built with the rest."""
    link = PACKAGE / "Checked" / "JobTests"
    assert link.is_symlink() and link.resolve() == (REPO / "ios_app" / "JobTests").resolve()
    assert sorted(p.name for p in link.resolve().glob("*.swift")), "JobTests holds Swift sources"
    assert (modules / "JobTests.swiftmodule").exists()
    assert 'path: "Checked/JobTests"' in (PACKAGE / "Package.swift").read_text(encoding="utf-8")


def test_correct_fixture_typechecks(modules: Path) -> None:
    done = typecheck(modules, FIXTURES / "Correct.swift")
    assert done.returncode == 0, done.stderr


def test_there_are_wrong_fixtures() -> None:
    assert len(WRONG) >= 5


@pytest.mark.parametrize("fixture", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_fixture_is_refused(modules: Path, fixture: Path) -> None:
    expected = EXPECT.search(fixture.read_text(encoding="utf-8"))
    assert expected is not None, f"{fixture.name} must say which diagnostic it expects (// expect: ...)"
    done = typecheck(modules, fixture)
    assert done.returncode != 0, f"{fixture.name} type-checked, but it is wrong on purpose"
    assert expected["text"] in done.stderr, done.stderr
