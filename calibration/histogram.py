"""Histogram specification: make a camera crop's intensities look like MNIST's.

Camera crops sit in the middle grays with soft edges; MNIST digits are mostly exact 0
background with a saturated 255 stroke core. Specification maps the crop's cumulative
histogram onto MNIST's, through a 256-entry lookup table (pure numpy, microseconds).
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


def specification_lut(image: np.ndarray, reference: ReferenceHistogram) -> np.ndarray:
    """The 256-entry uint8 table that maps ``image``'s histogram onto the reference."""
    counts = np.bincount(image.ravel(), minlength=256).astype(np.float64)
    source_cdf = np.cumsum(counts) / counts.sum()
    # Each source level goes to the first reference level whose CDF reaches the midpoint
    # of the source level's CDF step (so ties spread the way the reference does).
    midpoint = source_cdf - counts / (2 * counts.sum())
    lut = np.searchsorted(reference.cdf, midpoint, side="left")
    return np.clip(lut, 0, 255).astype(np.uint8)


def specify(image: np.ndarray, reference: ReferenceHistogram | None = None) -> np.ndarray:
    """Histogram-specify a uint8 image (ink bright) toward MNIST.

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
    total = float(height * width)
    midpoint = np.cumsum(counts, axis=1) / total - counts / (2 * total)
    luts = np.searchsorted(reference.cdf, midpoint.ravel(), side="left")
    luts = np.clip(luts, 0, 255).astype(np.uint8)
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
