"""Histogram specification: make a camera crop's intensities look like MNIST's.

Camera crops sit in the middle grays with soft edges; MNIST digits are mostly exact 0
background with a saturated 255 stroke core. Specification splits each crop into
background and ink (:func:`ink_levels`), sends the background to 0 and maps the ink's
cumulative histogram onto that of MNIST's ink pixels, through a 256-entry lookup table
(numpy, microseconds). Matching the ink alone keeps each digit's own amount of ink: a
bold digit, or one lit unevenly, would otherwise lose its fainter strokes to MNIST's
fixed share of background.

The two alternatives it is compared with are here too: a plain gamma transform (what the
original design first did) and no correction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
REFERENCE_FILE = DATA_DIR / "mnist_reference_histogram.json"


@dataclass(frozen=True)
class ReferenceHistogram:
    """Distribution of pixel values over MNIST 28x28 training images (256 bins)."""
    cdf: np.ndarray  # float64 [256], non-decreasing, ends at 1
    id: str

    @property
    def ink_cdf(self) -> np.ndarray:
        """CDF of the ink (nonzero) levels 1..255 alone, float64 [255]."""
        return (self.cdf[1:] - self.cdf[0]) / (1.0 - self.cdf[0])

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> ReferenceHistogram:
        counts = np.asarray(counts, np.float64)
        if counts.shape != (256,) or counts.sum() <= 0:
            raise ValueError("a reference histogram needs 256 non-negative counts")
        digest = hashlib.sha256(counts.astype(np.int64).tobytes()).hexdigest()[:12]
        return cls(np.cumsum(counts) / counts.sum(), f"mnist-train-{digest}")


def compute_counts(images: np.ndarray) -> np.ndarray:
    """256-bin histogram of uint8 images."""
    return np.bincount(np.asarray(images, np.uint8).ravel(), minlength=256).astype(np.int64)


def write_reference(counts: np.ndarray, path: Path = REFERENCE_FILE) -> ReferenceHistogram:
    reference = ReferenceHistogram.from_counts(counts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"id": reference.id, "source": "MNIST training images, 28x28",
                                "counts": [int(c) for c in counts]}))
    return reference


@lru_cache(maxsize=4)
def load_reference(path: Path = REFERENCE_FILE) -> ReferenceHistogram:
    try:
        data = json.loads(Path(path).read_text())
        return ReferenceHistogram.from_counts(np.array(data["counts"]))
    except (OSError, KeyError, ValueError) as exc:
        raise RuntimeError(f"{path}: cannot read the reference histogram ({exc}); "
                           "rebuild it with `digitcam calibrate --build-reference`") from exc


def otsu_levels(counts: np.ndarray) -> np.ndarray:
    """Otsu's threshold of each 256-bin histogram in ``counts [N, 256]``: levels >= it are
    ink. Vectorised over the rows."""
    counts = np.asarray(counts, np.float64)
    levels = np.arange(256, dtype=np.float64)
    weight_low = np.cumsum(counts, axis=1)
    total = weight_low[:, -1:]
    weight_high = total - weight_low
    sum_low = np.cumsum(counts * levels, axis=1)
    mean_low = sum_low / np.maximum(weight_low, 1e-12)
    mean_high = (sum_low[:, -1:] - sum_low) / np.maximum(weight_high, 1e-12)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return between.argmax(axis=1) + 1  # the split lies after the best "low" level


def ink_levels(counts: np.ndarray, share_of_peak: float = 0.3) -> np.ndarray:
    """Where ink starts in each histogram row of ``counts [N, 256]``: Otsu's threshold, but
    never above ``share_of_peak`` of the row's 99th-percentile level, so the fainter half
    of an unevenly lit digit stays ink (Otsu alone would split the two halves)."""
    counts = np.asarray(counts, np.float64)
    cdf = np.cumsum(counts, axis=1) / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    peak = (cdf < 0.99).sum(axis=1)
    return np.minimum(otsu_levels(counts), np.maximum(1, np.ceil(share_of_peak * peak)))


def specification_luts(counts: np.ndarray, reference: ReferenceHistogram) -> np.ndarray:
    """uint8 tables ``[N, 256]``, one per histogram row of ``counts [N, 256]``: levels below
    the row's ink level (:func:`ink_levels`) go to 0; the others are mapped so that their
    distribution becomes that of MNIST's ink pixels."""
    counts = np.asarray(counts, np.float64)
    below = np.arange(256) < ink_levels(counts)[:, None]
    ink = np.where(below, 0.0, counts)
    ink_total = np.maximum(ink.sum(axis=1, keepdims=True), 1.0)
    # Each ink level goes to the first reference level whose CDF reaches the midpoint of
    # the level's own CDF step (so ties spread the way the reference does).
    midpoint = (np.cumsum(ink, axis=1) - ink / 2) / ink_total
    luts = 1 + np.searchsorted(reference.ink_cdf, midpoint.ravel(), side="left")
    luts = np.minimum(luts, 255).reshape(counts.shape)  # searchsorted gave >= 0: luts >= 1
    luts[below] = 0
    return luts.astype(np.uint8)


def specification_lut(image: np.ndarray, reference: ReferenceHistogram) -> np.ndarray:
    """The 256-entry uint8 table that specifies ``image`` toward the reference."""
    counts = np.bincount(np.asarray(image, np.uint8).ravel(), minlength=256)
    return specification_luts(counts[None], reference)[0]


def specify(image: np.ndarray, reference: ReferenceHistogram | None = None) -> np.ndarray:
    """Histogram-specify a uint8 crop of an ink map (ink bright, paper near 0) toward MNIST.

    The image is smoothed a little first: specification works on ranks, and the flat core
    of a thick stroke would otherwise have its sensor noise stretched into speckle."""
    return specify_batch(np.asarray(image)[None], reference)[0]


def specify_batch(images: np.ndarray, reference: ReferenceHistogram | None = None) -> np.ndarray:
    """:func:`specify` for a stack ``[N, H, W]`` of crops at once, each specified by its
    own histogram (a frame's crops in a handful of numpy calls instead of a loop)."""
    reference = reference or load_reference()
    images = np.asarray(images, np.uint8)
    if images.ndim != 3:
        raise ValueError(f"specify_batch() needs [N, H, W] uint8 crops, got shape {images.shape}")
    n, height, width = images.shape
    if n == 0:
        return images.copy()
    # Blur all crops as one tall image. Each crop gets its own mirrored edge rows first,
    # so no crop's blur sees its neighbour: the result equals blurring them one by one.
    padded = np.empty((n, height + 2, width), np.uint8)
    padded[:, 1:-1] = images
    padded[:, 0], padded[:, -1] = images[:, 1], images[:, -2]  # reflect-101, like OpenCV
    smooth = cv2.GaussianBlur(padded.reshape(-1, width), (3, 3), 0.6)
    smooth = smooth.reshape(n, height + 2, width)[:, 1:-1].reshape(n, -1)
    # One bincount for all crops: crop i's levels are counted at i * 256 + level.
    indices = (smooth + (np.arange(n, dtype=np.intp) * 256)[:, None]).ravel()
    counts = np.bincount(indices, minlength=n * 256).reshape(n, 256)
    luts = specification_luts(counts, reference).ravel()
    return luts[indices].reshape(n, height, width)


def gamma(image: np.ndarray, value: float = 0.5) -> np.ndarray:
    """Stretch to the full range, then a plain gamma transform (the original design).
    ``image`` is one ``[H, W]`` crop or a stack ``[N, H, W]``, each stretched on its own."""
    image = np.asarray(image)
    low = image.min(axis=(-2, -1), keepdims=True).astype(np.float64)
    high = image.max(axis=(-2, -1), keepdims=True).astype(np.float64)
    span = np.where(high > low, high - low, 1.0)
    out = (np.clip((image - low) / span, 0, 1) ** value) * 255
    return np.where(high > low, out, 0).astype(np.uint8)


def no_correction(image: np.ndarray) -> np.ndarray:
    return image


CORRECTIONS = ("specify", "gamma", "none")


def make_correction(name: str):
    """The crop correction called ``name``, ready to apply to a uint8 stack ``[N, H, W]``."""
    if name == "specify":
        reference = load_reference()
        return lambda images: specify_batch(images, reference)
    if name == "gamma":
        return gamma
    if name == "none":
        return no_correction
    raise ValueError(f"unknown correction {name!r}; choose from {', '.join(CORRECTIONS)}")
