"""The representative dataset for full-integer quantization.

A stratified, seeded sample of MNIST *training* images (the test set is never touched),
optionally mixed with camera-like augmented copies so the activation ranges also cover
what the edge crops look like.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from edge import mnist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepresentativeSet:
    images: np.ndarray  # uint8 [N, 28, 28]
    train_indices: np.ndarray  # index into the MNIST training set of each source image
    labels: np.ndarray  # the label of each image
    augmented: int  # how many of the images are augmented copies

    def describe(self) -> dict:
        return {"size": int(len(self.images)), "source": "mnist-train",
                "augmented": self.augmented,
                "per_class": np.bincount(self.labels, minlength=10).tolist(),
                "sha256_of_indices": hashlib.sha256(
                    self.train_indices.astype(np.int64).tobytes()).hexdigest()}


def sample(size: int = 600, seed: int = 0, augmented_fraction: float = 0.25,
           data_dir=None) -> RepresentativeSet:
    if size < 10:
        raise ValueError("the representative set needs at least 10 images (one per digit)")
    train = mnist.load_split("train", data_dir)
    rng = np.random.default_rng(seed)
    per_class = [size // 10 + (1 if d < size % 10 else 0) for d in range(10)]
    indices = np.concatenate([
        rng.choice(np.flatnonzero(train.labels == d), n, replace=False)
        for d, n in enumerate(per_class)])
    rng.shuffle(indices)
    images = train.images[indices].copy()
    n_aug = int(round(size * augmented_fraction))
    if n_aug:
        from train.augment import augment_batch  # needs only numpy and OpenCV

        images[:n_aug] = augment_batch(images[:n_aug], rng)
    result = RepresentativeSet(images, indices, train.labels[indices], n_aug)
    logger.info("representative set: %d training images (%d augmented)", size, n_aug)
    return result
