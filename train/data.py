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


class EpochAugmenter:
    """Shuffled, augmented training epochs as a ``tf.data`` pipeline.

    A whole epoch is augmented at once in numpy (a few seconds for 55,000 digits) and
    then served from memory by ``tf.data``. Feeding Keras batch by batch from Python
    (``keras.utils.PyDataset``, which TensorFlow runs through ``Dataset.from_generator``)
    made every training step about 2.3x slower on this 2-core CPU (241 ms instead of
    106 ms a batch of 128), even with a ``__getitem__`` that only sliced arrays.

    Epoch ``e`` is drawn from ``default_rng([seed, e])``, so a run is repeatable for a
    given seed, and a run resumed at epoch ``e`` sees the same data it would have seen.
    :meth:`callback` keeps the epoch number in step with ``fit`` (resumes included).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                 sample_weights: np.ndarray | None = None,
                 augment: AugmentConfig | None = None):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels.astype(np.int32)
        self.batch_size, self.seed = batch_size, seed
        self.sample_weights = (None if sample_weights is None
                               else np.asarray(sample_weights, np.float32))
        self.augment = augment or AugmentConfig()
        self.epoch = 0

    def __len__(self) -> int:
        """Batches per epoch: full batches only. The last, partial batch is dropped (each
        epoch is shuffled anew, so every crop is still seen): a final batch of 79 crashed
        TensorFlow 2.21's CPU kernels (double free, reproduced with random data)."""
        return len(self.images) // self.batch_size

    def epoch_arrays(self, epoch: int) -> tuple[np.ndarray, ...]:
        """``(x, y)`` or ``(x, y, sample_weight)`` of one epoch, shuffled and augmented."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.images))
        x = to_model_input(augment_batch(self.images[order], rng, self.augment))
        if self.sample_weights is None:
            return x, self.labels[order]
        return x, self.labels[order], self.sample_weights[order]

    def dataset(self):
        """A ``tf.data.Dataset`` whose every iteration (one per ``fit`` epoch) augments
        the current epoch afresh."""
        import tensorflow as tf

        weighted = self.sample_weights is not None
        types = [tf.float32, tf.int32] + ([tf.float32] if weighted else [])

        def served_epoch():
            return self.epoch_arrays(self.epoch)

        def current_epoch(_):
            arrays = tf.numpy_function(served_epoch, [], types, stateful=True)
            arrays[0].set_shape((None, 28, 28, 1))
            for array in arrays[1:]:
                array.set_shape((None,))
            return tf.data.Dataset.from_tensor_slices(tuple(arrays))

        dataset = (tf.data.Dataset.from_tensors(0).flat_map(current_epoch)
                   .batch(self.batch_size, drop_remainder=True).prefetch(2))
        return dataset.apply(tf.data.experimental.assert_cardinality(len(self)))

    def callback(self) -> keras.callbacks.Callback:
        """Tells the augmenter which epoch ``fit`` is starting."""
        augmenter = self

        class EpochNumber(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                augmenter.epoch = epoch

        return EpochNumber()
