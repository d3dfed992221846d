"""Training and probe sets: sources of raw examples, fitted to a model's inputs exactly as Core ML wants them.

See docs/data.md for the sources, the crop/scale modes and the label mapping.
"""

from mlupdate.data.examples import Example, ExampleSet, SetFeature, from_arrays, set_feature
from mlupdate.data.fit import fit_probe_set, fit_training_set
from mlupdate.data.images import FIT_MODES, FitMode, fit_image
from mlupdate.data.sources import (
    RawExample,
    Source,
    array_file,
    csv_table,
    image_files,
    image_folder,
    labelled_files,
    read_labels,
)
from mlupdate.data.targets import TargetMapping

__all__ = [
    "FIT_MODES",
    "Example",
    "ExampleSet",
    "FitMode",
    "RawExample",
    "SetFeature",
    "Source",
    "TargetMapping",
    "array_file",
    "csv_table",
    "fit_image",
    "fit_probe_set",
    "fit_training_set",
    "from_arrays",
    "image_files",
    "image_folder",
    "labelled_files",
    "read_labels",
    "set_feature",
]
