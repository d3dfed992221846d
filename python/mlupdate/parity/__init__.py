"""Parity: did the device train the way Core ML should? Verdicts against the reference, and reports."""

from __future__ import annotations

from mlupdate.parity.evaluate import ResultsLike, evaluate
from mlupdate.parity.tolerances import Tolerance, Tolerances, for_case
from mlupdate.parity.verdict import DRY_RUN_LABEL, Check, KnobStatus, SemanticsInfo, Verdict

__all__ = [
    "DRY_RUN_LABEL",
    "Check",
    "KnobStatus",
    "ResultsLike",
    "SemanticsInfo",
    "Tolerance",
    "Tolerances",
    "Verdict",
    "evaluate",
    "for_case",
]
