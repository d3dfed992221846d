"""The one place that imports coremltools.

Reading, checking and writing specs needs only coremltools' generated protobuf modules (`Model_pb2` and the
files it includes). The coremltools package itself is another matter: its `__init__` imports scikit-learn,
scipy and sympy (seconds of start-up) and logs a screenful of warnings on Linux, where its native library is
absent. So the protobuf modules are loaded straight from coremltools' `proto/` folder, without running that
`__init__`; the network builder API (`NeuralNetworkBuilder`, `datatypes`, `SgdParams`, `AdamParams`) imports
the whole package, quietly, the first time one of its names is used.

Both routes register the same `.proto` files in protobuf's default pool, so a message from one is an instance
of the other's class: a spec read here can be handed to coremltools and back.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import types
from pathlib import Path
from typing import Any

_PROTO_PACKAGE = f"{__name__}_proto"
_BUILDER_NAMES = {
    "coremltools": ("coremltools", None),
    "datatypes": ("coremltools.models", "datatypes"),
    "NeuralNetworkBuilder": ("coremltools.models.neural_network", "NeuralNetworkBuilder"),
    "SgdParams": ("coremltools.models.neural_network", "SgdParams"),
    "AdamParams": ("coremltools.models.neural_network", "AdamParams"),
}


def _proto_package() -> str:
    """The package the `*_pb2` modules are imported from: coremltools' own when it is loaded already, else
    its `proto/` folder under a private name (which does not run coremltools' `__init__`)."""
    if "coremltools.proto" in sys.modules:
        return "coremltools.proto"
    if _PROTO_PACKAGE not in sys.modules:
        spec = importlib.util.find_spec("coremltools")  # locates the package without importing it
        if spec is None or spec.origin is None:
            raise ImportError("coremltools is not installed: pip install 'coremltools>=9,<10'")
        package = types.ModuleType(_PROTO_PACKAGE, "coremltools' protobuf modules, without coremltools")
        package.__path__ = [str(Path(spec.origin).parent / "proto")]
        sys.modules[_PROTO_PACKAGE] = package
    return _PROTO_PACKAGE


def _proto(name: str) -> Any:
    return importlib.import_module(f"{_proto_package()}.{name}")


FeatureTypes_pb2 = _proto("FeatureTypes_pb2")
Model_pb2 = _proto("Model_pb2")
NearestNeighbors_pb2 = _proto("NearestNeighbors_pb2")
NeuralNetwork_pb2 = _proto("NeuralNetwork_pb2")
Parameters_pb2 = _proto("Parameters_pb2")


def __getattr__(name: str) -> Any:
    """The builder API, imported with the whole coremltools package on first use."""
    if name not in _BUILDER_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    module_name, attribute = _BUILDER_NAMES[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


# The builder names (`_BUILDER_NAMES`) are served by `__getattr__` on first use.
__all__ = ["FeatureTypes_pb2", "Model_pb2", "NearestNeighbors_pb2", "NeuralNetwork_pb2", "Parameters_pb2"]
