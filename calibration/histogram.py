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
    reference = reference or load_reference()
    smooth = cv2.GaussianBlur(image, (3, 3), 0.6)
    return specification_lut(smooth, reference)[smooth]


def gamma(image: np.ndarray, value: float = 0.5) -> np.ndarray:
    """Stretch to the full range, then a plain gamma transform (the original design)."""
    low, high = int(image.min()), int(image.max())
    if high <= low:
        return np.zeros_like(image)
    lut = ((np.clip((np.arange(256) - low) / (high - low), 0, 1) ** value) * 255).astype(np.uint8)
    return lut[image]


def no_correction(image: np.ndarray) -> np.ndarray:
    return image


CORRECTIONS = ("specify", "gamma", "none")


def make_correction(name: str):
    """The crop correction called ``name``, ready to apply to uint8 images."""
    if name == "specify":
        reference = load_reference()
        return lambda image: specify(image, reference)
    if name == "gamma":
        return gamma
    if name == "none":
        return no_correction
    raise ValueError(f"unknown correction {name!r}; choose from {', '.join(CORRECTIONS)}")
