"""What parity needs to know about a job: optimizer, mini-batches per epoch (for loss tolerances and levels)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlupdate.compiled import read_compiled
from mlupdate.models.spec import KNN_KIND, is_neural_network, load_spec, model_kind, neural_network, updatable_leaf


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    training_count: int
    optimizer: str  # "sgd", "adam", or "none" for k-NN (an update appends examples, no optimizer steps)
    mini_batch_size: int | None
    epochs: int | None

    @property
    def steps_per_epoch(self) -> int | None:
        if self.optimizer == "none":
            return 0
        if self.mini_batch_size is None or self.mini_batch_size <= 0:
            return None
        return math.ceil(self.training_count / self.mini_batch_size)  # the last batch wraps around: still a step


def job_info(job_id: str, manifest: dict[str, Any], model_path: Path) -> JobInfo:
    """From job.json (`training.count`, `parameters` overrides) and the model's own update defaults."""
    defaults = _model_defaults(model_path)
    overrides = manifest.get("parameters", {})
    batch = overrides.get("miniBatchSize", defaults.get("miniBatchSize"))
    epochs = overrides.get("epochs", defaults.get("epochs"))
    return JobInfo(
        job_id=job_id,
        training_count=int(manifest["training"]["count"]),
        optimizer=str(defaults.get("optimizer", "none")),
        mini_batch_size=int(batch) if batch is not None else None,
        epochs=int(epochs) if epochs is not None else None,
    )


def _model_defaults(model_path: Path) -> dict[str, Any]:
    if model_path.is_dir():
        update = read_compiled(model_path).update_parameters
        return {"optimizer": update.optimizer, **update.defaults} if update is not None else {}
    leaf = updatable_leaf(load_spec(model_path)).spec
    if model_kind(leaf) == KNN_KIND or not is_neural_network(leaf):
        return {"optimizer": "none"}
    params = neural_network(leaf).updateParams
    which = params.optimizer.WhichOneof("OptimizerType")
    out: dict[str, Any] = {"optimizer": {"sgdOptimizer": "sgd", "adamOptimizer": "adam"}.get(str(which), "none")}
    if which is not None:
        out["miniBatchSize"] = int(getattr(params.optimizer, which).miniBatchSize.defaultValue)
    if params.HasField("epochs"):
        out["epochs"] = int(params.epochs.defaultValue)
    return out
