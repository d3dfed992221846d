"""Which compiled layout a `.mlmodelc` folder has, and whether it is complete, before any file is parsed.

Layouts seen in compiled folders (Xcode's `coremlc` and `MLModel.compileModel(at:)`):
- a neural network: `coremldata.bin`, `model.espresso.net`, `.shape`, `.weights` at the top (the MNIST fixture);
- a pipeline: `coremldata.bin` at the top and one folder per sub-model (`model0/`, `model1/`, ...), each with its
  own `coremldata.bin` and, for a network, its espresso files; Create ML image classifiers are pipelines whose
  first stage is the built-in feature print (a `coremldata.bin` only);
- an ML Program: `model.mil` (+ `weights/weight.bin`) instead of espresso files, also inside pipeline stages.
Public repositories that commit `.mlmodelc` folders show these names (e.g. `model0/coremldata.bin`,
`model1/coremldata.bin`, `model0/model.mil`); the espresso file set is the fixture's.
"""

from __future__ import annotations

from pathlib import Path

from mlupdate.errors import CompiledModelError

DESCRIPTION_FILE = "coremldata.bin"
NET_FILE = "model.espresso.net"
SHAPE_FILE = "model.espresso.shape"
WEIGHTS_FILE = "model.espresso.weights"
PROGRAM_FILE = "model.mil"
ESPRESSO_REQUIRED = (NET_FILE, WEIGHTS_FILE)
_MAX_DEPTH = 4  # pipelines nest a few levels at most; deeper trees are not compiled models
_FIX = "copy the whole .mlmodelc folder again (pull it from the device or recompile the model)"


def check_complete(root: Path) -> None:
    """Refuse a half-copied folder and a compiled ML Program, each with its own message."""
    programs = [p for p in _candidates(root) if (p / PROGRAM_FILE).is_file()]
    if programs:
        where = programs[0] / PROGRAM_FILE
        raise CompiledModelError(
            "this is a compiled ML Program (model.mil): Core ML cannot update ML Programs, and this reader reads "
            "compiled neural networks, k-NN models and pipelines of them",
            where=str(where),
            fix="convert the source model with convert_to='neuralnetwork', make it updatable, compile that",
        )
    if not (root / DESCRIPTION_FILE).is_file():
        raise CompiledModelError(
            "the compiled folder is incomplete: its top-level coremldata.bin is missing (a half-copied .mlmodelc?)",
            where=str(root / DESCRIPTION_FILE),
            fix=_FIX,
        )
    for folder in _candidates(root):
        present = [name for name in (NET_FILE, SHAPE_FILE, WEIGHTS_FILE) if (folder / name).exists()]
        missing = [name for name in ESPRESSO_REQUIRED if name not in present]
        if present and missing:
            raise CompiledModelError(
                f"the compiled folder is incomplete: {' and '.join(missing)} missing beside {', '.join(present)} "
                "(a half-copied .mlmodelc?)",
                where=str(folder / missing[0]),
                fix=_FIX,
            )


def _candidates(root: Path) -> list[Path]:
    """The root and its sub-folders (bounded depth): where model stages can sit."""
    folders = [root]
    frontier = [root]
    for _ in range(_MAX_DEPTH):
        frontier = [c for f in frontier for c in sorted(f.iterdir()) if c.is_dir() and not c.is_symlink()]
        folders += frontier
    return folders
