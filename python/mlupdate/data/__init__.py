"""Training and probe sets: sources of raw examples, fitted to a model's inputs exactly as Core ML wants them.

See docs/data.md for the sources, the crop/scale modes and the label mapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlupdate._lazy import lazy_exports

if TYPE_CHECKING:
    from mlupdate.data.examples import Example as Example
    from mlupdate.data.examples import ExampleSet as ExampleSet
    from mlupdate.data.examples import SetFeature as SetFeature
    from mlupdate.data.examples import from_arrays as from_arrays
    from mlupdate.data.examples import set_feature as set_feature
    from mlupdate.data.fit import fit_probe_set as fit_probe_set
    from mlupdate.data.fit import fit_training_set as fit_training_set
    from mlupdate.data.images import FIT_MODES as FIT_MODES
    from mlupdate.data.images import FitMode as FitMode
    from mlupdate.data.images import fit_image as fit_image
    from mlupdate.data.sources import RawExample as RawExample
    from mlupdate.data.sources import Source as Source
    from mlupdate.data.sources import array_file as array_file
    from mlupdate.data.sources import csv_table as csv_table
    from mlupdate.data.sources import image_files as image_files
    from mlupdate.data.sources import image_folder as image_folder
    from mlupdate.data.sources import labelled_files as labelled_files
    from mlupdate.data.sources import read_labels as read_labels
    from mlupdate.data.targets import TargetMapping as TargetMapping

_EXPORTS = {
    "Example": "examples",
    "ExampleSet": "examples",
    "FIT_MODES": "images",
    "FitMode": "images",
    "RawExample": "sources",
    "SetFeature": "examples",
    "Source": "sources",
    "TargetMapping": "targets",
    "array_file": "sources",
    "csv_table": "sources",
    "fit_image": "images",
    "fit_probe_set": "fit",
    "fit_training_set": "fit",
    "from_arrays": "examples",
    "image_files": "sources",
    "image_folder": "sources",
    "labelled_files": "sources",
    "read_labels": "sources",
    "set_feature": "examples",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
