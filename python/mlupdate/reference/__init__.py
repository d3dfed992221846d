"""The numpy reference trainer: what `MLUpdateTask` should produce for a model and a job.

    result = train(spec, {"x": x, "label": labels})            # one update task, Core ML's semantics
    run_reference("jobs/digits-v1", "out/reference")           # job bundle in, results bundle out

Modules: `semantics` (the calibrated and open knobs), `shuffle` (libc++ port), `layers` / `spec_layers` /
`network` (forward and backward), `losses`, `optimizers`, `trainer`, `knn`, `ensemble`, `predict`, `run`.
"""

from mlupdate.reference.semantics import Semantics, load_profile
from mlupdate.reference.trainer import TrainingResult, prepare, run_prepared, train

__all__ = ["Semantics", "TrainingResult", "load_profile", "prepare", "run_prepared", "train"]
