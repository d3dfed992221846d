"""Package re-exports that import their module on first use.

`from mlupdate.models import open_model` is convenient, but a package `__init__` that imports every submodule
makes every command pay for all of them (numpy, pillow, jsonschema, the reference trainer) before it starts.
Each package lists its exports once, in `_EXPORTS` (name -> submodule), repeats them under `TYPE_CHECKING` for
the type checker, and sets `__getattr__ = lazy_exports(__name__, _EXPORTS)`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `name` from its submodule `exports[name]`.

    A name that is also its submodule's name (`mlupdate.models.validate`, the function, in the submodule
    `validate`) is bound now: importing the submodule first would otherwise leave the package attribute
    pointing at the module, and `__getattr__` would never be asked.
    """
    for name, submodule in exports.items():
        if name == submodule:
            setattr(sys.modules[package], name, getattr(importlib.import_module(f"{package}.{name}"), name))

    def __getattr__(name: str) -> Any:
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    return __getattr__
