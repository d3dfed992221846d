"""Hooks the plugin offers to conftest files and other plugins."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mlharness.matrix import Candidate


@pytest.hookspec(firstresult=True)
def pytest_mlh_discover_targets(config: pytest.Config) -> Sequence[Candidate] | None:
    """Report the targets this host can reach, instead of `mlharness.targets.discover_targets()`.

    Return None to fall through to the built-in discovery. Useful for a lab that knows its devices from an
    inventory, and for testing the matrix without hardware.
    """
