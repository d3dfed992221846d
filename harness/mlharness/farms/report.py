"""A farm run's report (`farm-report.json`) and its rows in the cross-device table.

`mlharness devicefarm -o OUT` writes `OUT/farm-report.json` (one row per job and device: where it ran, the OS,
the outcome; no ARN, URL or key), the verified results bundles under `OUT/<device>/<job id>`, and
`OUT/where.json` naming the farm and pool, so a results bundle or a parity report kept under `OUT` says where
it ran. `mlharness report OUT` reads the farm report back as rows of the cross-device table: a verified job is
its results bundle's row, a job that gave no result is a row with result `error` and the outcome's reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlharness.errors import FarmError
from mlupdate.bundle import read_results
from mlupdate.limits import MiB, read_bounded
from mlupdate.output_folder import write_atomic
from mlupdate.parity.crossdevice import Row, Where, row_from_results, write_where

REPORT = "farm-report.json"
REPORT_KIND = "mlharness.farm-report"
VERIFIED = "verified"
# A job the farm gave no trustworthy result for: counted as a failure by `mlharness report`.
ERROR = "error"
_REPORT_BYTES = 16 * MiB
_FIX = f"{REPORT} is written by `mlharness devicefarm -o DIR`; run it again into a new folder"


def write_farm_report(out: Path, document: Mapping[str, Any], where: Where) -> Path:
    """`out/farm-report.json` (with its kind and version) and `out/where.json`."""
    write_where(out, where)
    body = {"kind": REPORT_KIND, "schema_version": 1, **document}
    return write_atomic(out / REPORT, (json.dumps(body, indent=2) + "\n").encode("utf-8"))


def is_farm_report(folder: Path) -> bool:
    return (folder / REPORT).is_file()


def farm_rows(folder: Path) -> list[Row]:
    """The cross-device rows of the farm run written into `folder`."""
    path = folder / REPORT
    data = read_bounded(path, _REPORT_BYTES, error=FarmError, what=REPORT, fix=_FIX)
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FarmError(f"not valid JSON ({exc})", where=str(path), fix=_FIX) from None
    if not isinstance(document, dict) or document.get("kind") != REPORT_KIND:
        raise FarmError(f"not a {REPORT_KIND} document", where=str(path), fix=_FIX)
    rows = document.get("rows")
    if not isinstance(rows, list):
        raise FarmError("`rows` must be a list", where=f"{path}: rows", fix=_FIX)
    return [_row(folder, entry, f"{path}: rows[{index}]") for index, entry in enumerate(rows)]


def _row(folder: Path, entry: object, where: str) -> Row:
    if not isinstance(entry, dict):
        raise FarmError("each row must be an object", where=where, fix=_FIX)
    job, farm, pool, device, os_label, outcome, detail = (
        _text(entry, key, where) for key in ("job", "farm", "pool", "device", "os", "outcome", "detail")
    )
    placed = Where("farm", farm=farm, pool=pool).label
    results = entry.get("results")
    if outcome == VERIFIED:
        if not isinstance(results, str) or Path(results).is_absolute() or ".." in Path(results).parts:
            raise FarmError("a verified row names its results folder inside the report's", where=where, fix=_FIX)
        bundle = read_results(folder / results, job)
        row = row_from_results(bundle, str(folder / results))
        return Row(**{**row.to_dict(), "device": device, "where": placed})
    return Row(
        source=str(folder),
        job=job,
        device=device,
        os=os_label,
        kind="device",
        result=ERROR,
        level="-",
        train_median_seconds=None,
        memory_growth_mb_per_task=None,
        final_loss=None,
        first_failure=f"{outcome}: {detail}",
        where=placed,
    )


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or len(value) > 4096:
        raise FarmError(f"`{key}` must be a string", where=f"{where}.{key}", fix=_FIX)
    return value
