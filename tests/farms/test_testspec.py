"""The Device Farm test spec: valid YAML in Device Farm's documented schema, exporting where the reader looks."""

from __future__ import annotations

import yaml

from mlharness.farms.devicefarm import EXPORT_FOLDER
from mlharness.farms.testspec import device_farm_test_spec


def test_the_spec_runs_the_packaged_xctestrun_and_exports_for_the_reader() -> None:
    spec = yaml.safe_load(device_farm_test_spec("MLHarnessJobs.xctestrun"))

    assert set(spec) == {"version", "ios_test_host", "phases", "artifacts"}
    assert spec["version"] == 0.1 and spec["ios_test_host"] == "macos_sequoia"
    (test,) = spec["phases"]["test"]["commands"]
    assert test.split()[:2] == ["xcodebuild", "test-without-building"]
    assert '-xctestrun "$DEVICEFARM_XCTEST_BUILD_DIRECTORY/MLHarnessJobs.xctestrun"' in test
    assert '-destination "id=$DEVICEFARM_DEVICE_UDID"' in test
    post = " ".join(spec["phases"]["post_test"]["commands"])
    assert f'> "$DEVICEFARM_LOG_DIR/{EXPORT_FOLDER}"/tests.json' in post
    assert f'--output-path "$DEVICEFARM_LOG_DIR/{EXPORT_FOLDER}"/attachments' in post
    assert spec["artifacts"] == ["$DEVICEFARM_LOG_DIR"]
