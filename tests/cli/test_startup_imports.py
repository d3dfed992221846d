"""`mlharness` starts fast because it imports only what the command in hand needs (timings: `make bench`).

Each check runs a fresh interpreter and looks at `sys.modules` afterwards: the help of every command imports no
numerical or device library, and `validate`/`inspect` of a model load coremltools' protobuf modules without
the coremltools package, whose `__init__` pulls in scikit-learn, scipy and sympy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs" / "golden-regressor" / "model"
HEAVY_FOR_HELP = ("numpy", "coremltools", "google.protobuf", "PIL", "jsonschema", "rich", "pymobiledevice3", "yaml")
HEAVY_FOR_MODELS = ("coremltools", "sklearn", "scipy", "sympy", "torch", "jax", "pymobiledevice3", "matplotlib")


# What `validate` and `inspect` may not need: they dry-run the model's layers through the reference's forward
# graph ("reference: ready"), but never train, judge or write bundles.
TRAINING_AND_PARITY = (
    "mlupdate.reference.trainer",
    "mlupdate.reference.optimizers",
    "mlupdate.reference.run",
    "mlupdate.parity",
    "mlupdate.bundle.job_writer",
)


def loaded_modules(code: str) -> set[str]:
    """Every module loaded after running `code` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def modules_after(code: str) -> set[str]:
    """The top-level packages loaded after running `code` in a fresh interpreter."""
    return {name.split(".")[0] for name in loaded_modules(code)}


def model_command(command: str) -> str:
    model = next(MODEL.glob("*.mlmodel"))
    return (
        "import contextlib, io\nfrom mlharness.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): main([{command!r}, {str(model)!r}])"
    )


def test_building_the_whole_command_line_imports_no_heavy_library() -> None:
    loaded = modules_after("from mlharness.cli import build_parser; build_parser().format_help()")
    assert loaded.isdisjoint(HEAVY_FOR_HELP), sorted(loaded & set(HEAVY_FOR_HELP))


@pytest.mark.parametrize("command", ["validate", "inspect"])
def test_model_commands_read_specs_without_the_coremltools_package(command: str) -> None:
    modules = loaded_modules(model_command(command))
    loaded = {name.split(".")[0] for name in modules}
    assert "google" in loaded  # the specs were read, with protobuf
    assert loaded.isdisjoint(HEAVY_FOR_MODELS), sorted(loaded & set(HEAVY_FOR_MODELS))
    assert "mlupdate.reference.readiness" in modules  # "reference: ready" was worked out ...
    assert modules.isdisjoint(TRAINING_AND_PARITY), sorted(modules & set(TRAINING_AND_PARITY))  # ... not trained


def test_the_check_notices_the_trainer_loaded() -> None:
    assert {"mlupdate.reference.trainer", "mlupdate.reference.optimizers"} <= loaded_modules(
        "import mlupdate.reference.run"
    )


def test_the_check_notices_a_heavy_import() -> None:
    assert "coremltools" in modules_after("import logging; logging.disable(); import coremltools")


@pytest.mark.parametrize(
    "package",
    [
        "mlupdate.bundle",
        "mlupdate.compiled",
        "mlupdate.data",
        "mlupdate.models",
        "mlupdate.parity",
        "mlupdate.reference",
    ],
)
def test_every_lazy_package_export_is_the_submodules_object(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    exports: dict[str, str] = module._EXPORTS
    assert sorted(module.__all__) == sorted(exports)
    for name, submodule in exports.items():
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{submodule}"), name)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = module.nothing_here
