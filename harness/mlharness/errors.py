"""Every error the device-facing harness raises.

Like `mlupdate.errors`, each says what, where and the fix; tool errors also carry the command line, exit
code and stderr, and runner errors carry the diagnostics gathered before giving up::

    HarnessError                     root (subclass of mlupdate.errors.MlupdateError)
    ├── ConfigError                  devices.yaml, CLI options or plugin options that cannot be used
    ├── ToolError                    an external command failed: .argv, .returncode, .stderr
    │   └── ToolTimeout              ... or did not finish before its deadline
    ├── TargetUnavailable            no Xcode, no simctl, no usbmuxd, device not paired / not found ...
    ├── TargetError                  a target step failed (install, push, launch, pull): .target, .step
    │   └── AppCrashed               the companion app exited before writing DONE
    ├── JobTimeout                   the job did not finish before its deadline
    ├── RunFailed                    the runner gave up; .state reached and .diagnostics collected
    ├── CaseError                    one job's XCTest case gave no trustworthy result: .job_id, .case
    │   ├── CaseNotRun               the case is not in the test results, or was skipped
    │   ├── RunnerCrashed            the test runner (the companion app) crashed during the case
    │   ├── CaseFailed               the case reported a harness error (not a parity verdict)
    │   └── AttachmentMissing        the case passed but its sealed results bundle is not attached
    ├── PackageError                 the test products xcodebuild built lack what the farms need
    └── FarmError                    a device farm refused a request or a farm run gave no result
        └── FarmTimeout              the farm run outran its deadline (it was stopped)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlupdate.errors import MlupdateError


class HarnessError(MlupdateError):
    """Root of the harness tree."""


class ConfigError(HarnessError):
    """A devices file, CLI option or plugin option that cannot be used."""


class ToolError(HarnessError):
    """An external command failed. Carries the argv, exit code and stderr (trimmed), and its stdout for tools that
    print their diagnostics there (xcodebuild's build log)."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stderr: str,
        *,
        what: str | None = None,
        fix: str | None = None,
        stdout: str = "",
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        tail = stderr.strip()[-2000:]
        detail = what or f"exited with code {returncode}"
        super().__init__(f"{detail}" + (f"\n  stderr: {tail}" if tail else ""), where=" ".join(self.argv), fix=fix)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"argv": self.argv, "returncode": self.returncode, "stderr": self.stderr}


class ToolTimeout(ToolError):
    """An external command did not finish before its deadline."""


class TargetUnavailable(HarnessError):
    """The target cannot be used on this host now (missing tool, device absent, not paired ...)."""


class TargetError(HarnessError):
    """A step on a target failed."""

    def __init__(self, what: str, *, target: str, step: str, fix: str | None = None) -> None:
        self.target = target
        self.step = step
        super().__init__(what, where=f"{target} ({step})", fix=fix)


class AppCrashed(TargetError):
    """The companion app exited before it wrote the DONE sentinel."""


class JobTimeout(HarnessError):
    """The job did not finish before its deadline."""


class RunFailed(HarnessError):
    """The runner gave up. `state` is the last state reached; `diagnostics` what was collected on the way."""

    def __init__(
        self,
        what: str,
        *,
        state: str,
        diagnostics: dict[str, Any],
        where: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.state = state
        self.diagnostics = diagnostics
        super().__init__(what, where=where, fix=fix)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"state": self.state, "diagnostics": self.diagnostics}


class CaseError(HarnessError):
    """One job's XCTest case gave no trustworthy result. `job_id` and `case` name it."""

    def __init__(self, what: str, *, job_id: str, case: str, where: str, fix: str | None = None) -> None:
        self.job_id = job_id
        self.case = case
        super().__init__(f"{case}: {what}", where=where, fix=fix)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"job_id": self.job_id, "case": self.case}


class CaseNotRun(CaseError):
    """The case is absent from the test results, or XCTest skipped it."""


class RunnerCrashed(CaseError):
    """The test runner (the companion app hosting the tests) crashed while the case ran."""


class CaseFailed(CaseError):
    """The case failed with a harness error reported from the device."""


class AttachmentMissing(CaseError):
    """The case passed but its sealed results bundle is not among the exported attachments."""


class PackageError(HarnessError):
    """The test products `xcodebuild build-for-testing` wrote cannot be packaged for a farm (a product or a job
    bundle is missing, the `.xctestrun` does not name the job cases)."""


class FarmError(HarnessError):
    """A device farm refused a request, or a farm run ended without a usable result."""


class FarmTimeout(FarmError):
    """The farm run did not finish before its deadline; the harness stopped it."""
