"""The numpy reference trainer: what `MLUpdateTask` should produce for a model and a job.

    result = train(spec, {"x": x, "label": labels})            # one update task, Core ML's semantics
    run_reference("jobs/digits-v1", "out/reference")           # job bundle in, results bundle out

Modules: `semantics` (the calibrated and open knobs), `shuffle` (libc++ port), `layers` / `spec_layers` /
`network` (forward and backward), `losses`, `optimizers`, `trainer`, `knn`, `ensemble`, `predict`, `run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlupdate._lazy import lazy_exports

if TYPE_CHECKING:
    from mlupdate.reference.semantics import Semantics as Semantics
    from mlupdate.reference.semantics import load_profile as load_profile
    from mlupdate.reference.trainer import TrainingResult as TrainingResult
    from mlupdate.reference.trainer import prepare as prepare
    from mlupdate.reference.trainer import run_prepared as run_prepared
    from mlupdate.reference.trainer import train as train

_EXPORTS = {
    "Semantics": "semantics",
    "TrainingResult": "trainer",
    "load_profile": "semantics",
    "prepare": "trainer",
    "run_prepared": "trainer",
    "train": "trainer",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
