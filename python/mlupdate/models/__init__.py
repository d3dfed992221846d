"""Updatable Core ML models: build, make updatable, k-NN pipelines, validate with Core ML's rules, inspect.

- `files`: `open_model`, the one entry for any model path (.mlmodel, .mlpackage, .mlmodelc);
- `spec`, `features`: load/save specs, navigate pipelines, describe features;
- `build`: a compact sequential description -> an updatable network (`build_network`);
- `updatable`: `make_updatable` for existing networks and pipelines ending in one;
- `knn`: empty updatable k-NN classifiers, `cut_embedding`, `drawing_classifier`;
- `validate`: Core ML's rules for updatable models (`validate`, `ensure_valid`);
- `params`: update parameters and checked overrides (`update_parameters`, `resolve_parameters`);
- `arrays`: layer weights <-> numpy in spec layout;
- `inspect`: `inspect_model` reports as text and JSON.
"""

from __future__ import annotations

from mlupdate.models.files import ModelFile, open_model
from mlupdate.models.inspect import ModelReport, inspect_model
from mlupdate.models.params import UpdateParameter, resolve_parameters, update_parameters
from mlupdate.models.updatable import Adam, Loss, Sgd, make_updatable
from mlupdate.models.validate import ValidationIssue, ensure_valid, is_updatable, validate

__all__ = [
    "Adam",
    "Loss",
    "ModelFile",
    "ModelReport",
    "Sgd",
    "UpdateParameter",
    "ValidationIssue",
    "ensure_valid",
    "inspect_model",
    "is_updatable",
    "make_updatable",
    "open_model",
    "resolve_parameters",
    "update_parameters",
    "validate",
]
