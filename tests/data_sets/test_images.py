"""Images fitted to the model's constraint: the three Vision crop/scale modes, colour spaces, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlupdate.data.images import fit_image, image_from_array, open_image
from mlupdate.errors import DataError


def _wide_image() -> Image.Image:
    """8x4 RGB: left half red, right half blue, with a green 2-pixel border column at each side."""
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, :4, 0] = 255
    pixels[:, 4:, 2] = 255
    pixels[:, 0, :] = (0, 255, 0)
    pixels[:, 7, :] = (0, 255, 0)
    return Image.fromarray(pixels)


def test_scale_fill_resizes_to_exact_size_ignoring_aspect() -> None:
    out = fit_image(_wide_image(), 4, 4, "RGB", "scaleFill", where="t")
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert out[:, 0, 1].min() > 0  # the green border survives: nothing was cropped


def test_center_crop_keeps_aspect_and_drops_the_sides() -> None:
    out = fit_image(_wide_image(), 4, 4, "RGB", "centerCrop", where="t")
    assert out.shape == (4, 4, 3)
    assert (out[:, :, 1] == 0).all()  # the green side columns were cropped away
    assert (out[:, :2, 0] == 255).all() and (out[:, 2:, 2] == 255).all()


def test_scale_fit_keeps_aspect_and_pads_with_black() -> None:
    out = fit_image(_wide_image(), 8, 8, "RGB", "scaleFit", where="t")
    assert out.shape == (8, 8, 3)
    assert (out[:2] == 0).all() and (out[-2:] == 0).all()  # letterbox bands
    assert out[2:6, 0, 1].min() == 255  # the image itself is unscaled in the middle


def test_exact_size_image_is_not_resampled() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 6), dtype=np.uint8)
    for mode in ("scaleFill", "centerCrop", "scaleFit"):
        assert np.array_equal(fit_image(Image.fromarray(pixels), 6, 5, "GRAYSCALE", mode, where="t"), pixels)


def test_bgr_models_get_rgb_pixels_because_core_ml_swaps_itself() -> None:
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    out = fit_image(red, 2, 2, "BGR", "scaleFill", where="t")
    assert tuple(out[0, 0]) == (255, 0, 0)


def test_rgb_to_grayscale_uses_luma_and_alpha_is_composited_on_black() -> None:
    gray = fit_image(Image.new("RGB", (1, 1), (255, 0, 0)), 1, 1, "GRAYSCALE", "scaleFill", where="t")
    assert gray.shape == (1, 1) and gray[0, 0] == 76  # ITU-R 601-2: 0.299 * 255
    transparent = Image.new("RGBA", (1, 1), (255, 255, 255, 0))
    assert fit_image(transparent, 1, 1, "GRAYSCALE", "scaleFill", where="t")[0, 0] == 0


def test_sixteen_bit_image_is_refused_naming_the_file() -> None:
    deep = Image.fromarray(np.full((2, 2), 40000, np.uint16))
    with pytest.raises(DataError, match="more than 8 bits") as info:
        fit_image(deep, 2, 2, "GRAYSCALE", "scaleFill", where="deep.png")
    assert info.value.where == "deep.png" and info.value.fix


def test_array_with_two_channels_is_refused_with_the_fix() -> None:
    with pytest.raises(DataError, match="1, 3 or 4") as info:
        image_from_array(np.zeros((4, 4, 2), np.uint8), where="x.npy[3]")
    assert info.value.where == "x.npy[3]"


def test_channels_first_array_is_refused() -> None:
    with pytest.raises(DataError, match="channels last"):
        image_from_array(np.zeros((3, 4, 5), np.uint8), where="x")


def test_float_pixels_are_refused() -> None:
    with pytest.raises(DataError, match="uint8"):
        image_from_array(np.zeros((4, 4), np.float32), where="x")


def test_corrupt_and_truncated_and_non_image_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:40])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for path in (truncated, text, tmp_path / "missing.png"):
        with pytest.raises(DataError) as info:
            open_image(path)
        assert info.value.where == str(path)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(DataError, match="crop/scale mode"):
        fit_image(Image.new("L", (2, 2)), 2, 2, "GRAYSCALE", "stretch", where="t")  # type: ignore[arg-type]
