"""What a farm cell needs on this host before anything is packaged or sent: each missing thing, named.

A farm run packages the case with `xcodebuild` (macOS), talks to the farm with boto3 and signs with AWS
credentials from the standard chain. A host without one of them skips the cell with these reasons; it never
fails for lack of them.
"""

from __future__ import annotations

from typing import Any

from mlharness.errors import TargetUnavailable
from mlharness.matrix import FarmPool


def missing_prerequisites(pool: FarmPool) -> list[str]:
    """The reasons `pool` cannot run from this host, empty when it can."""
    missing = []
    boto3 = _boto3()
    if boto3 is None:
        missing.append("boto3 is not installed (pip install 'mlupdate-harness[farms]')")
    from mlharness.xctest.package import require_xcodebuild

    try:
        require_xcodebuild()
    except TargetUnavailable as exc:
        missing.append(f"no xcodebuild on this host ({exc.what})")
    if boto3 is not None and boto3.Session(region_name=pool.region).get_credentials() is None:
        missing.append(
            "no AWS credentials in the standard chain (aws configure, AWS_PROFILE, SSO login or an instance role)"
        )
    return missing


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        return None
    return boto3
