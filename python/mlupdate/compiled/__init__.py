"""Compiled Core ML models (`.mlmodelc`) read back to descriptions, layers and spec-layout weights on any OS."""

from __future__ import annotations

from mlupdate.compiled.folding import Fold, find_folds, folded_values
from mlupdate.compiled.layers import CompiledLayer
from mlupdate.compiled.reader import CompiledModel, read_compiled
from mlupdate.compiled.update_params import LossLayer, UpdateParameters

__all__ = [
    "CompiledLayer",
    "CompiledModel",
    "Fold",
    "LossLayer",
    "UpdateParameters",
    "find_folds",
    "folded_values",
    "read_compiled",
]
