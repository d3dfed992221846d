"""The Device Farm test spec that runs the job cases and exports their results where the harness reads them.

Device Farm runs it on its macOS test host with the device attached: `xcodebuild test-without-building` with
the `.xctestrun` from the test package, then `xcresulttool` (Xcode 16+) exports the `.xcresult` into
`$DEVICEFARM_LOG_DIR/mlharness-export` (`tests.json` + `attachments/`), the layout `xctest.read_export` reads.
Device Farm returns `$DEVICEFARM_LOG_DIR` as the job's customer artefact. The export runs in `post_test`, which
Device Farm runs whether the tests passed or not, so failed and crashed cases are reported too.
"""

from __future__ import annotations

from mlharness.farms.devicefarm import EXPORT_FOLDER
from mlharness.xctest.names import TEST_BUNDLE
from mlharness.xctest.xcresult import EXPORT_ATTACHMENTS, EXPORT_TESTS

# The test host Device Farm documents for iOS 15 to 26 custom environments.
IOS_TEST_HOST = "macos_sequoia"


def device_farm_test_spec(xctestrun: str) -> str:
    """The YAML test spec for a test package whose root holds `xctestrun` and the build products."""
    result = '"$DEVICEFARM_LOG_DIR/MLHarnessJobs.xcresult"'
    export = f'"$DEVICEFARM_LOG_DIR/{EXPORT_FOLDER}"'
    return f"""version: 0.1
ios_test_host: {IOS_TEST_HOST}

phases:
  install:
    commands:
      - xcodebuild -version
  test:
    commands:
      - >-
        xcodebuild test-without-building
        -xctestrun "$DEVICEFARM_XCTEST_BUILD_DIRECTORY/{xctestrun}"
        -destination "id=$DEVICEFARM_DEVICE_UDID"
        -only-testing:{TEST_BUNDLE}
        -resultBundlePath {result}
  post_test:
    commands:
      - mkdir -p {export}
      - xcrun xcresulttool get test-results tests --path {result} > {export}/{EXPORT_TESTS}
      - xcrun xcresulttool export attachments --path {result} --output-path {export}/{EXPORT_ATTACHMENTS}

artifacts:
  - $DEVICEFARM_LOG_DIR
"""
