"""Hooks the plugin offers to conftest files and other plugins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from mlharness.matrix import Candidate, DeviceCell

if TYPE_CHECKING:
    from mlharness.farms.devicefarm import DeviceFarm


@pytest.hookspec(firstresult=True)
def pytest_mlh_discover_targets(config: pytest.Config) -> Sequence[Candidate] | None:
    """Report the targets this host can reach, instead of `mlharness.targets.discover_targets()`.

    Return None to fall through to the built-in discovery. Useful for a lab that knows its devices from an
    inventory, and for testing the matrix without hardware.
    """


@pytest.hookspec(firstresult=True)
def pytest_mlh_device_farm(config: pytest.Config, cell: DeviceCell) -> DeviceFarm | None:
    """The `DeviceFarm` a farm cell runs through, instead of a boto3 client from the standard credential chain.

    Return None to fall through to the built-in client. Useful for a client with a named profile or endpoint,
    and for testing farm cells offline (a client wrapped in botocore's Stubber).
    """
