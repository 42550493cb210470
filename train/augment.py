"""Data augmentation for MNIST digits, in numpy and OpenCV.

Two kinds, applied per image with a seeded generator:

* geometric – rotation (about 10 degrees), zoom and shift (about 10 %) with *constant*
  fill (reflect fill would draw fake strokes at the border). The shift is clamped so
  the ink always stays inside the 28x28 frame;
* camera-like – what the edge crops look like after a real lens and sensor: blur, a
  squeezed contrast range, thicker or thinner strokes and sensor noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

SIZE = 28
MARGIN = 2  # pixels kept free at every border (interpolation spreads ink by one)


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 10.0
    zoom_fraction: float = 0.10
    shift_fraction: float = 0.10
    camera_probability: float = 0.5
    blur_sigma_max: float = 1.0
    contrast_floor_max: int = 60
    contrast_ceiling_min: int = 170
    noise_sigma_max: float = 8.0


def ink_box(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) inclusive bounds of the nonzero pixels, or None when blank."""
    ys, xs = np.nonzero(image)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def random_affine(image: np.ndarray, rng: np.random.Generator,
                  config: AugmentConfig) -> np.ndarray:
    """Rotate, zoom and shift one uint8 28x28 image, keeping every ink pixel inside."""
    angle = rng.uniform(-config.rotation_degrees, config.rotation_degrees)
    scale = 1.0 + rng.uniform(-config.zoom_fraction, config.zoom_fraction)
    centre = (SIZE / 2 - 0.5, SIZE / 2 - 0.5)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    box = ink_box(image)
    if box is not None:
        x0, y0, x1, y1 = box
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)
        moved = corners @ matrix.T
        extent = moved.max(axis=0) - moved.min(axis=0)
        if extent.max() > SIZE - 1 - 2 * MARGIN:  # zoomed past the frame: zoom less
            shrink = (SIZE - 1 - 2 * MARGIN) / extent.max()
            matrix = cv2.getRotationMatrix2D(centre, angle, scale * shrink)
            moved = corners @ matrix.T
        # A random shift, then clipped so the transformed ink box (with a margin for
        # interpolation) stays inside the frame.
        limit = config.shift_fraction * SIZE
        shift = np.clip(rng.uniform(-limit, limit, 2), MARGIN - moved.min(axis=0),
                        SIZE - 1 - MARGIN - moved.max(axis=0))
        matrix[:, 2] += shift
    return cv2.warpAffine(image, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def camera_like(image: np.ndarray, rng: np.random.Generator,
                config: AugmentConfig) -> np.ndarray:
    """Blur, stroke thickness, contrast squeeze and noise, each with its own chance."""
    out = image
    roll = rng.random(4)
    if roll[0] < 0.3:
        kernel = np.ones((2, 2), np.uint8)
        out = cv2.dilate(out, kernel) if rng.random() < 0.6 else cv2.erode(out, kernel)
        if out.max() == 0:  # erosion removed a thin digit entirely: keep the original
            out = image
    if roll[1] < 0.4:
        sigma = rng.uniform(0.3, config.blur_sigma_max)
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out = out.astype(np.float32)
    if roll[2] < 0.4:
        floor = rng.uniform(0, config.contrast_floor_max)
        ceiling = rng.uniform(config.contrast_ceiling_min, 255)
        out = floor + out * (ceiling - floor) / 255.0
    if roll[3] < 0.3:
        out = out + rng.normal(0, rng.uniform(1, config.noise_sigma_max), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def augment_batch(images: np.ndarray, rng: np.random.Generator,
                  config: AugmentConfig | None = None) -> np.ndarray:
    """Augment a uint8 batch ``[N, 28, 28]``; returns a new uint8 array."""
    config = config or AugmentConfig()
    out = np.empty_like(images)
    for i, image in enumerate(images):
        moved = random_affine(image, rng, config)
        if rng.random() < config.camera_probability:
            moved = camera_like(moved, rng, config)
        out[i] = moved
    return out
