"""How job bundles are named inside the XCTest target that runs them (ios_app/JobTests).

One case per job: the case `test_<job_id>` of the class `MLHarnessJobTests` runs the job `<job_id>` and
attaches its sealed results bundle as `mlharness-results-<job_id>` (a zip). XCTest appends
`_<index>_<UUID>.<extension>` to an attachment's name when it exports it (`Launch Screen_0_53E1C67A-….png` in
the recorded samples), so that suffix, and nothing else, may follow the name.
"""

from __future__ import annotations

import re

TEST_BUNDLE = "MLHarnessJobTests"
TEST_CLASS = "MLHarnessJobTests"
CASE_PREFIX = "test_"
ATTACHMENT_PREFIX = "mlharness-results-"

# The contract's job id pattern (python/mlupdate/bundle/schemas/job.schema.json, $defs.job_id).
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# What XCTest appends when it exports an attachment: `_<index>_<UUID>`, then the file extension.
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_EXPORT_SUFFIX = re.compile(rf"^(?:_\d+_{_UUID})?(?:\.zip)?$")


def case_name(job_id: str) -> str:
    """The test method that runs `job_id`."""
    return f"{CASE_PREFIX}{job_id}"


def case_identifier(job_id: str) -> str:
    """`Class/method`, as xcresulttool and `xcodebuild -only-testing:` name a case."""
    return f"{TEST_CLASS}/{case_name(job_id)}"


def job_id_for_case(name: str) -> str | None:
    """The job a case name (`test_<id>`, `test_<id>()`, `Class/test_<id>`) runs; None for any other test."""
    method = name.rsplit("/", 1)[-1].removesuffix("()")
    if not method.startswith(CASE_PREFIX):
        return None
    job_id = method[len(CASE_PREFIX) :]
    return job_id if _JOB_ID.match(job_id) else None


def attachment_name(job_id: str) -> str:
    """The name the case gives its results attachment."""
    return f"{ATTACHMENT_PREFIX}{job_id}"


def is_results_attachment(exported_name: str, job_id: str) -> bool:
    """Whether an exported attachment name (`<name>_<index>_<UUID>.zip`) is the results of `job_id`."""
    stem = attachment_name(job_id)
    return exported_name.startswith(stem) and _EXPORT_SUFFIX.match(exported_name[len(stem) :]) is not None
