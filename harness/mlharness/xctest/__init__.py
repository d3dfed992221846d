"""The companion's job runner as XCTest: case names, reading results back from `.xcresult` bundles, packaging.

`names` fixes how a job is named in the test target; `package` builds the test products (xcodebuild, macOS) and
writes the artefacts each farm takes; `xcresult` reads an `.xcresult` (or its export folder)
back into verified results bundles, one outcome per job; `archive` unpacks the sealed results zips.
"""

from mlharness.xctest.names import attachment_name, case_identifier, case_name, job_id_for_case
from mlharness.xctest.xcresult import (
    XcresultOutcome,
    Xcresulttool,
    extract_xcresult,
    first_error,
    parse_manifest,
    parse_test_cases,
    read_export,
)

__all__ = [
    "XcresultOutcome",
    "Xcresulttool",
    "attachment_name",
    "case_identifier",
    "case_name",
    "extract_xcresult",
    "first_error",
    "job_id_for_case",
    "parse_manifest",
    "parse_test_cases",
    "read_export",
]
