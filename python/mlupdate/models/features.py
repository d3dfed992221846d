"""Model features (inputs, outputs, training inputs) as plain value objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mlupdate.models.spec import Spec

FeatureKind = Literal["image", "multiArray", "string", "int64", "double", "dictionary", "sequence", "unknown"]
ColorSpace = Literal["GRAYSCALE", "RGB", "BGR", "GRAYSCALE_FLOAT16"]
ArrayDType = Literal["float32", "float64", "int32", "float16"]

_ARRAY_DTYPES: dict[int, ArrayDType] = {65568: "float32", 65600: "float64", 131104: "int32", 65552: "float16"}
_COLOR_SPACES: dict[int, ColorSpace] = {10: "GRAYSCALE", 20: "RGB", 30: "BGR", 40: "GRAYSCALE_FLOAT16"}


@dataclass(frozen=True)
class Feature:
    name: str
    kind: FeatureKind
    shape: tuple[int, ...] = ()  # multiArray shape as declared (may be empty when flexible)
    dtype: ArrayDType | None = None  # multiArray element type
    width: int | None = None  # image
    height: int | None = None
    color_space: ColorSpace | None = None
    key_kind: Literal["string", "int64"] | None = None  # dictionary keys
    optional: bool = False
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind}
        if self.kind == "multiArray":
            out |= {"shape": list(self.shape), "dtype": self.dtype}
        elif self.kind == "image":
            out |= {"width": self.width, "height": self.height, "color_space": self.color_space}
        elif self.kind == "dictionary":
            out["key_type"] = self.key_kind
        return out


def feature_from_description(desc: Any) -> Feature:
    """A `FeatureDescription` protobuf as a Feature."""
    ftype = desc.type
    which = ftype.WhichOneof("Type")
    common: dict[str, Any] = {
        "name": desc.name,
        "optional": bool(ftype.isOptional),
        "description": desc.shortDescription,
    }
    if which == "multiArrayType":
        array = ftype.multiArrayType
        shape = tuple(int(d) for d in array.shape)
        if not shape and array.WhichOneof("ShapeFlexibility") == "enumeratedShapes":
            shapes = array.enumeratedShapes.shapes
            shape = tuple(int(d) for d in shapes[0].shape) if shapes else ()
        return Feature(kind="multiArray", shape=shape, dtype=_ARRAY_DTYPES.get(array.dataType), **common)
    if which == "imageType":
        image = ftype.imageType
        return Feature(
            kind="image",
            width=int(image.width),
            height=int(image.height),
            color_space=_COLOR_SPACES.get(image.colorSpace),
            **common,
        )
    if which == "stringType":
        return Feature(kind="string", **common)
    if which == "int64Type":
        return Feature(kind="int64", **common)
    if which == "doubleType":
        return Feature(kind="double", **common)
    if which == "dictionaryType":
        key = ftype.dictionaryType.WhichOneof("KeyType")
        return Feature(kind="dictionary", key_kind="string" if key == "stringKeyType" else "int64", **common)
    if which == "sequenceType":
        return Feature(kind="sequence", **common)
    return Feature(kind="unknown", **common)


def inputs(spec: Spec) -> list[Feature]:
    return [feature_from_description(d) for d in spec.description.input]


def outputs(spec: Spec) -> list[Feature]:
    return [feature_from_description(d) for d in spec.description.output]


def training_inputs(spec: Spec) -> list[Feature]:
    return [feature_from_description(d) for d in spec.description.trainingInput]
