"""Every public class name means one thing across `mlupdate` and `mlharness`.

Two packages each exporting an `Event` (or a `Check`, a `Feature`, a `Network`, a `ProbeOutput`) made readers
guess which one a module meant; the contract module now owns the bundle vocabulary and the others were renamed.
This walks every module and fails on a new clash.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict

import mlharness
import mlupdate

# The builder's vocabulary (what a user writes to build a network) next to the reference trainer's runtime
# layers and optimizers of the same Core ML names: one concept, two sides, each in its own package.
SAME_CONCEPT = {
    "Activation": {"mlupdate.models.build", "mlupdate.reference.layers"},
    "Flatten": {"mlupdate.models.build", "mlupdate.reference.layers"},
    "Softmax": {"mlupdate.models.build", "mlupdate.reference.layers"},
    "Adam": {"mlupdate.models.updatable", "mlupdate.reference.optimizers"},
    "Sgd": {"mlupdate.models.updatable", "mlupdate.reference.optimizers"},
}


def public_classes() -> dict[str, set[str]]:
    """Class name -> the modules that define a public class of that name."""
    found: dict[str, set[str]] = defaultdict(set)
    for package in (mlupdate, mlharness):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.endswith(".__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if inspect.isclass(value) and value.__module__ == module.__name__ and not name.startswith("_"):
                    found[name].add(module.__name__)
    return found


def clashes(found: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: modules for name, modules in found.items() if len(modules) > 1 and SAME_CONCEPT.get(name) != modules}


def test_no_two_modules_define_a_public_class_of_the_same_name() -> None:
    found = public_classes()
    assert found["ProgressEvent"] == {"mlupdate.contract"}
    assert clashes(found) == {}


def test_a_second_class_of_a_taken_name_is_reported() -> None:
    found = public_classes()
    found["ProgressEvent"] = found["ProgressEvent"] | {"mlupdate.reference.trainer"}
    assert clashes(found) == {"ProgressEvent": {"mlupdate.contract", "mlupdate.reference.trainer"}}
