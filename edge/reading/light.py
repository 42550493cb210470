"""Light: an ink map that does not care about uneven light, shadows or a dim room.

Pure functions over uint8 images. :func:`ink_map` divides out the paper's own
brightness (so a shadow is not ink), :func:`noise_sigma` measures the sensor's noise and
:func:`threshold_level` picks the ink level above both Otsu's split and the noise.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from edge.reading.locate import LocateSettings

logger = logging.getLogger(__name__)


def noise_sigma(gray: np.ndarray) -> float:
    """The sensor noise's standard deviation in gray levels, from the median absolute
    difference between neighbouring pixels (edges are rare, so the median ignores them)."""
    sample = _sample(gray).astype(np.int16)
    diff = np.abs(np.diff(sample, axis=1))
    # |a - b| of two independent N(0, s) values has median 0.954 s
    return float(np.median(diff)) / 0.954


def denoise(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth a noisy frame enough that specks of noise do not pass as ink; a clean one is
    returned as it is."""
    if sigma < 4:
        return gray
    size = 3 if sigma < 8 else 5
    return cv2.GaussianBlur(gray, (size, size), 0)


STROKE_SHARE = 6  # strokes are narrower than this share of the frame's smaller side


def ink_map(gray: np.ndarray, paper_scale: int = 4) -> np.ndarray:
    """uint8 image where ink is bright and paper is ~0, independent of uneven light.

    The paper's brightness is estimated by a morphological closing at 1/``paper_scale``
    of the resolution, over a sixth of the frame: strokes thinner than the kernel
    disappear, while the edge of a shadow stays where it is (a plain max filter would
    smear the bright side over the dark one and make the shadow look like ink). Each
    pixel's darkness is measured relative to it.
    """
    height, width = gray.shape
    small = cv2.resize(gray, (max(1, width // paper_scale), max(1, height // paper_scale)),
                       interpolation=cv2.INTER_AREA)
    size = max(3, (min(small.shape) // 6) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    paper = cv2.blur(paper, (3, 3))
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    # The coarse estimate blurs a hard shadow's edge, and the dark side of the edge would
    # read as a line of ink. A closing at stroke scale keeps a step where it is and only
    # fills what is narrower than its kernel, strokes: the paper is at most that.
    stroke = max(5, (min(height, width) // STROKE_SHARE) | 1)
    near = cv2.morphologyEx(gray, cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (stroke, stroke)))
    paper = cv2.min(paper, near)  # the closing is never below the frame itself
    darkness = cv2.subtract(paper, gray)
    return cv2.divide(darkness, paper, scale=255)  # OpenCV gives 0 where paper is 0


def threshold_level(ink: np.ndarray, settings: LocateSettings) -> float:
    """The ink level that separates strokes from paper in an ink map."""
    if settings.threshold == "fixed":
        level = settings.fixed_level
    elif settings.threshold == "percentile":
        level = float(np.percentile(ink, settings.percentile))
    else:
        level, _ = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(float(level), float(settings.min_contrast))




def noise_floor(ink: np.ndarray) -> float:
    """The ink level that paper noise stays under: the paper's median plus three and a half robust
    standard deviations of the ink map's lower half (where only paper is)."""
    sample = _sample(ink)
    median = float(np.median(sample))
    lower = sample[sample <= median]
    spread = median - float(np.percentile(lower, 25)) if lower.size else 0.0
    return median + 3.5 * 1.4826 * spread


def _sample(image: np.ndarray) -> np.ndarray:
    """Every few pixels of a large image: enough for a median, at a fraction of the cost."""
    step = 4 if image.size > 40_000 else 2 if image.size > 10_000 else 1
    return image[::step, ::step]
