"""Make a digit crop look like an MNIST image, the way MNIST itself was made: the ink
fitted into a 20x20 box keeping its aspect ratio, placed in 28x28 by its centre of mass,
ink bright on a black background; then histogram specification toward MNIST."""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np

from edge.reading.locate import Digit

logger = logging.getLogger(__name__)

BOX = 20
SIZE = 28


def mnist_layout(digit_ink: np.ndarray) -> np.ndarray:
    """Fit a uint8 ink image (ink bright) into MNIST's 20x20 box inside 28x28, by centre
    of mass."""
    x, y, w, h = cv2.boundingRect(digit_ink)  # of the nonzero pixels
    if w == 0:
        return np.zeros((SIZE, SIZE), np.uint8)
    digit_ink = digit_ink[y:y + h, x:x + w]
    scale = BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(digit_ink, (new_w, new_h), interpolation=interpolation)
    moments = cv2.moments(small)
    if moments["m00"] > 0:
        cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    else:
        cx, cy = new_w / 2, new_h / 2
    x0 = int(round(SIZE / 2 - cx))
    y0 = int(round(SIZE / 2 - cy))
    x0 = min(max(x0, 0), SIZE - new_w)
    y0 = min(max(y0, 0), SIZE - new_h)
    out = np.zeros((SIZE, SIZE), np.uint8)
    out[y0:y0 + new_h, x0:x0 + new_w] = small
    return out


Correction = Callable[[np.ndarray], np.ndarray]  # uint8 [N, 28, 28] -> uint8 [N, 28, 28]


def normalize(digit: Digit, correct: Correction | None = None) -> np.ndarray:
    """One 28x28 uint8 MNIST-like image of a located digit, with the intensity
    ``correct``-ion applied (see :mod:`calibration.histogram`)."""
    return normalize_all([digit], correct)[0]


def normalize_all(digits: list[Digit], correct: Correction | None = None) -> np.ndarray:
    """``[N, 28, 28]`` uint8 MNIST-like crops of ``digits``; the correction is applied to
    the whole stack at once."""
    if not digits:
        return np.zeros((0, SIZE, SIZE), np.uint8)
    crops = np.stack([mnist_layout(d.ink) for d in digits])
    return correct(crops) if correct is not None else crops
