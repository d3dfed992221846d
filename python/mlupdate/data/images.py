"""Images fitted to a model's image constraint: exact width, height and colour space, 8-bit.

Crop/scale modes are named after Vision's `VNImageCropAndScaleOption`:

- ``scaleFill``: resize to exactly width × height, ignoring the aspect ratio (Vision's default);
- ``centerCrop``: scale so the image covers width × height, keep the aspect ratio, crop the centre;
- ``scaleFit``: scale so the whole image fits, keep the aspect ratio, pad the borders with black.

Resampling is bilinear (Pillow, antialiased when shrinking). An image that already has the exact size is
not resampled. Transparent pixels are composited over black, as Core ML sees a premultiplied pixel buffer.
Colour is converted with Pillow (RGB -> GRAYSCALE uses ITU-R 601-2 luma). Pixels come back as uint8
[H, W] (GRAYSCALE) or [H, W, 3] in RGB order, also for BGR models: bundles carry RGB PNGs and Core ML swaps
the channels itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mlupdate.errors import DataError

FitMode = Literal["scaleFill", "centerCrop", "scaleFit"]
FIT_MODES: tuple[FitMode, ...] = ("scaleFill", "centerCrop", "scaleFit")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# Modes Pillow can turn into 8-bit L/RGB without guessing a bit depth or a scale.
_EIGHT_BIT_MODES = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}
_RESAMPLE = Image.Resampling.BILINEAR


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image file; unreadable, truncated or non-image files are a DataError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return image.copy()
    except FileNotFoundError:
        raise DataError("no such image file", where=str(path), fix="check the path") from None
    except UnidentifiedImageError:
        raise DataError(
            "not an image Pillow can read", where=str(path), fix="remove the file or convert it to PNG or JPEG"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(
            f"corrupt or truncated image: {exc}", where=str(path), fix="re-export the image or remove it"
        ) from None


def image_from_array(array: np.ndarray, *, where: str) -> Image.Image:
    """uint8 pixels [H, W], [H, W, 1], [H, W, 3] (RGB) or [H, W, 4] (RGBA) as a Pillow image."""
    if array.dtype != np.uint8:
        raise DataError(
            f"image pixels must be uint8 (0-255), got {array.dtype}",
            where=where,
            fix="scale the pixels to 0-255 and cast with .astype(np.uint8)",
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array))  # uint8 [H, W] -> L
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(array))  # uint8 [H, W, 3|4] -> RGB|RGBA
    raise DataError(
        f"cannot use pixels of shape {list(array.shape)} as an image: expected [H, W] or [H, W, C] with C in 1, 3, 4",
        where=where,
        fix="pass channels last (transpose [C, H, W] to [H, W, C]) with 1, 3 or 4 channels",
    )


def to_color_space(image: Image.Image, color_space: str, *, where: str) -> Image.Image:
    """Convert to 8-bit `L` (GRAYSCALE) or `RGB` (RGB and BGR), flattening alpha onto black."""
    if image.mode not in _EIGHT_BIT_MODES:
        raise DataError(
            f"cannot convert a {image.mode!r} image ({_describe_mode(image.mode)}) to 8-bit {color_space}",
            where=where,
            fix="convert the image to 8-bit grayscale or RGB first (e.g. PIL Image.convert('L') with your scaling)",
        )
    if image.mode in ("P", "PA") or "A" in image.mode or image.mode in ("La", "RGBa"):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    target = "L" if color_space == "GRAYSCALE" else "RGB"
    return image if image.mode == target else image.convert(target)


def _describe_mode(mode: str) -> str:
    return "more than 8 bits per channel" if mode.startswith(("I", "F")) else "an unsupported channel layout"


def fit_image(
    image: Image.Image, width: int, height: int, color_space: str, mode: FitMode, *, where: str
) -> np.ndarray:
    """The image as the model's constraint wants it: uint8 [H, W] or [H, W, 3] (RGB order)."""
    if mode not in FIT_MODES:
        raise DataError(f"unknown crop/scale mode {mode!r}", where=where, fix=f"use one of {list(FIT_MODES)}")
    image = to_color_space(image, color_space, where=where)
    if image.size != (width, height):
        if mode == "scaleFill":
            image = image.resize((width, height), _RESAMPLE)
        elif mode == "centerCrop":
            image = ImageOps.fit(image, (width, height), _RESAMPLE, centering=(0.5, 0.5))
        else:
            image = ImageOps.pad(image, (width, height), _RESAMPLE, color=0, centering=(0.5, 0.5))
    return np.asarray(image, dtype=np.uint8).copy()
