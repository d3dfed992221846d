"""`open_model(path)`: the one way to open any model path a user gives.

A `.mlmodel` file and an `.mlpackage` folder give a spec (a package may hold any spec: a neural network is as
updatable there as in a file); a compiled `.mlmodelc` folder gives what `mlupdate.compiled` reads back from
it. Commands that need a spec call `ModelFile.require_spec`, which says what to pass instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlupdate.errors import ModelLoadError
from mlupdate.models.package import MANIFEST
from mlupdate.models.spec import Spec, load_spec, model_kind

if TYPE_CHECKING:
    from mlupdate.compiled.reader import CompiledModel

ModelFormat = Literal["mlmodel", "mlpackage", "mlmodelc"]


@dataclass(frozen=True)
class ModelFile:
    """An opened model path: its format and either its spec or its compiled form."""

    path: Path
    format: ModelFormat
    spec: Spec | None = None
    compiled: CompiledModel | None = None

    @property
    def kind(self) -> str:
        """The model type (`neuralNetworkClassifier`, `mlProgram`, ...), or the compiled metadata's guess."""
        if self.spec is not None:
            return model_kind(self.spec)
        return (self.compiled.model_type if self.compiled is not None else None) or "unknown"

    def require_spec(self, purpose: str) -> Spec:
        """The spec, or a ModelLoadError explaining that `purpose` needs the uncompiled model."""
        if self.spec is None:
            raise ModelLoadError(
                f"{purpose} needs the model spec; a compiled .mlmodelc keeps only what Core ML runs",
                where=str(self.path),
                fix="pass the .mlmodel or .mlpackage it was compiled from",
            )
        return self.spec


def model_format(path: Path) -> ModelFormat:
    """What kind of model path this is, from its name and layout (nothing is parsed)."""
    if path.is_dir():
        if path.suffix == ".mlmodelc":
            return "mlmodelc"
        if path.suffix == ".mlpackage" or (path / MANIFEST).exists():
            return "mlpackage"
        if (path / "coremldata.bin").exists():
            return "mlmodelc"
    return "mlmodel"


def open_model(path: str | Path) -> ModelFile:
    """Open a `.mlmodel`, `.mlpackage` or `.mlmodelc`; every failure is a project error naming the path."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError("no such file or folder", where=str(path), fix="check the path")
    fmt = model_format(path)
    if fmt == "mlmodelc":
        from mlupdate.compiled.reader import read_compiled  # the compiled reader is not needed for specs

        return ModelFile(path, fmt, compiled=read_compiled(path))
    return ModelFile(path, fmt, spec=load_spec(path))
