"""Parity: did the device train the way Core ML should? Verdicts against the reference, and reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlupdate._lazy import lazy_exports

if TYPE_CHECKING:
    from mlupdate.parity.evaluate import ResultsLike as ResultsLike
    from mlupdate.parity.evaluate import evaluate as evaluate
    from mlupdate.parity.tolerances import Tolerance as Tolerance
    from mlupdate.parity.tolerances import Tolerances as Tolerances
    from mlupdate.parity.tolerances import for_case as for_case
    from mlupdate.parity.verdict import DRY_RUN_LABEL as DRY_RUN_LABEL
    from mlupdate.parity.verdict import Check as Check
    from mlupdate.parity.verdict import KnobStatus as KnobStatus
    from mlupdate.parity.verdict import SemanticsInfo as SemanticsInfo
    from mlupdate.parity.verdict import Verdict as Verdict

_EXPORTS = {
    "Check": "verdict",
    "DRY_RUN_LABEL": "verdict",
    "KnobStatus": "verdict",
    "ResultsLike": "evaluate",
    "SemanticsInfo": "verdict",
    "Tolerance": "tolerances",
    "Tolerances": "tolerances",
    "Verdict": "verdict",
    "evaluate": "evaluate",
    "for_case": "tolerances",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
