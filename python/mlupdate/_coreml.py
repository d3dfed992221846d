"""The one place that imports coremltools.

coremltools logs a screenful of warnings on import when its macOS-only native library is absent (always on
Linux). Nothing here needs that library: we only build and read protobuf specs. Import it quietly, once.
"""

from __future__ import annotations

import logging

logging.getLogger("coremltools").setLevel(logging.ERROR)

import coremltools  # noqa: E402
from coremltools.models import datatypes  # noqa: E402
from coremltools.models.neural_network import AdamParams, NeuralNetworkBuilder, SgdParams  # noqa: E402
from coremltools.proto import (  # noqa: E402
    FeatureTypes_pb2,
    Model_pb2,
    NearestNeighbors_pb2,
    NeuralNetwork_pb2,
    Parameters_pb2,
)

__all__ = [
    "AdamParams",
    "FeatureTypes_pb2",
    "Model_pb2",
    "NearestNeighbors_pb2",
    "NeuralNetworkBuilder",
    "NeuralNetwork_pb2",
    "Parameters_pb2",
    "SgdParams",
    "coremltools",
    "datatypes",
]
