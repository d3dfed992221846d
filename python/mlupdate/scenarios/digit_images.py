"""Real handwritten digits for the `digits` scenario: the 8x8 digits scikit-learn ships (UCI optdigits).

They are scaled to MNIST's look: ink 0..16 mapped to 0..255 white on black, resized to 20x20 and centred in
a 28x28 frame (MNIST digits are 20x20 in a 28x28 field).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mlupdate.errors import DataError


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 8, 8] with ink 0..255, labels int [N])."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "the digits scenario needs scikit-learn's bundled handwritten digits",
            where="scenario digits",
            fix="pip install 'mlupdate-harness[scenarios]' (or scikit-learn)",
        ) from None
    bunch = load_digits()
    images = np.rint(np.asarray(bunch.images) * (255.0 / 16.0)).astype(np.uint8)
    return images, np.asarray(bunch.target, dtype=np.int64)


def to_mnist_frame(digit: np.ndarray) -> Image.Image:
    """An 8x8 digit as a 28x28 grayscale image, 20x20 ink box centred like MNIST."""
    frame = Image.new("L", (28, 28), 0)
    frame.paste(Image.fromarray(digit, "L").resize((20, 20), Image.Resampling.BICUBIC), (4, 4))
    return frame


def pick_per_class(labels: np.ndarray, per_class: int, offset: int = 0) -> list[int]:
    """Indices of the first `per_class` examples of each digit after skipping `offset` of each."""
    chosen: list[int] = []
    for digit in range(10):
        where = np.flatnonzero(labels == digit)[offset : offset + per_class]
        if len(where) < per_class:
            raise DataError(
                f"only {len(where)} examples of digit {digit} after offset {offset}",
                where="scenario digits",
                fix="ask for fewer examples per class",
            )
        chosen.extend(int(i) for i in where)
    return chosen
