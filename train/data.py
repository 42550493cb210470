"""MNIST splits for training: a seeded, stratified validation hold-out and batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keras
import numpy as np

from edge import mnist
from train.augment import AugmentConfig, augment_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    x_train: np.ndarray  # uint8 [N, 28, 28]
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def stratified_split(labels: np.ndarray, holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, holdout): ``holdout`` samples, in proportion to each class."""
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)
        rng.shuffle(idx)
        n_held = round(holdout * idx.size / labels.size)
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def load_splits(data_dir, validation_size: int, seed: int,
                train_limit: int | None = None) -> Splits:
    train = mnist.load_split("train", data_dir)
    test = mnist.load_split("test", data_dir)
    keep, held = stratified_split(train.labels, validation_size, seed)
    if train_limit is not None:
        keep = keep[np.random.default_rng(seed).permutation(keep.size)[:train_limit]]
    return Splits(train.images[keep], train.labels[keep], train.images[held],
                  train.labels[held], test.images, test.labels)


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 28, 28, 1] in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., None]


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled, augmented training batches with optional per-sample (boosting) weights.

    Batch ``i`` of epoch ``e`` is drawn from ``default_rng([seed, e, i])``, so a run is
    repeatable for a given seed.
    """

    def __init__(self, images, labels, batch_size: int, seed: int,
                 sample_weights: np.ndarray | None = None,
                 augment: AugmentConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels = images, labels
        self.batch_size, self.seed = batch_size, seed
        self.sample_weights = sample_weights
        self.augment = augment or AugmentConfig()
        self.epoch = 0
        self._order = self._shuffle()

    def _shuffle(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index: int):
        idx = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        x = to_model_input(augment_batch(self.images[idx], rng, self.augment))
        y = self.labels[idx].astype(np.int32)
        if self.sample_weights is None:
            return x, y
        return x, y, self.sample_weights[idx].astype(np.float32)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._shuffle()
