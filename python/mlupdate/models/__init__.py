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

from typing import TYPE_CHECKING

from mlupdate._lazy import lazy_exports

if TYPE_CHECKING:
    from mlupdate.models.files import ModelFile as ModelFile
    from mlupdate.models.files import open_model as open_model
    from mlupdate.models.inspect import ModelReport as ModelReport
    from mlupdate.models.inspect import inspect_model as inspect_model
    from mlupdate.models.params import UpdateParameter as UpdateParameter
    from mlupdate.models.params import resolve_parameters as resolve_parameters
    from mlupdate.models.params import update_parameters as update_parameters
    from mlupdate.models.updatable import Adam as Adam
    from mlupdate.models.updatable import Loss as Loss
    from mlupdate.models.updatable import Sgd as Sgd
    from mlupdate.models.updatable import make_updatable as make_updatable
    from mlupdate.models.validate import ValidationIssue as ValidationIssue
    from mlupdate.models.validate import ensure_valid as ensure_valid
    from mlupdate.models.validate import is_updatable as is_updatable
    from mlupdate.models.validate import validate as validate

_EXPORTS = {
    "Adam": "updatable",
    "Loss": "updatable",
    "ModelFile": "files",
    "ModelReport": "inspect",
    "Sgd": "updatable",
    "UpdateParameter": "params",
    "ValidationIssue": "validate",
    "ensure_valid": "validate",
    "inspect_model": "inspect",
    "is_updatable": "validate",
    "make_updatable": "updatable",
    "open_model": "files",
    "resolve_parameters": "params",
    "update_parameters": "params",
    "validate": "validate",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
