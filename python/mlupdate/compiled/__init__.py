"""Compiled Core ML models (`.mlmodelc`) read back to descriptions, layers and spec-layout weights on any OS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlupdate._lazy import lazy_exports

if TYPE_CHECKING:
    from mlupdate.compiled.folding import Fold as Fold
    from mlupdate.compiled.folding import find_folds as find_folds
    from mlupdate.compiled.folding import folded_values as folded_values
    from mlupdate.compiled.layers import CompiledLayer as CompiledLayer
    from mlupdate.compiled.reader import CompiledModel as CompiledModel
    from mlupdate.compiled.reader import read_compiled as read_compiled
    from mlupdate.compiled.update_params import LossLayer as LossLayer
    from mlupdate.compiled.update_params import UpdateParameters as UpdateParameters

_EXPORTS = {
    "CompiledLayer": "layers",
    "CompiledModel": "reader",
    "Fold": "folding",
    "LossLayer": "update_params",
    "UpdateParameters": "update_params",
    "find_folds": "folding",
    "folded_values": "folding",
    "read_compiled": "reader",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
