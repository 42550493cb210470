"""SAMME (multi-class AdaBoost) reweighting between ensemble members, and the two ways of
combining members: plain probability averaging and boosting-weighted averaging."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

NUM_CLASSES = 10


def samme_update(weights: np.ndarray, wrong: np.ndarray, learning_rate: float,
                 num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, float, float]:
    """One SAMME round.

    ``weights`` are the current sample weights (mean 1), ``wrong`` marks the samples the
    new member misclassified. Returns (new weights with mean 1, member weight alpha,
    weighted error). ``learning_rate`` shrinks alpha, as in scikit-learn's AdaBoost, so a
    handful of hard (or mislabelled) digits cannot take over the next member's training.
    """
    if weights.shape != wrong.shape:
        raise ValueError("weights and wrong must have the same shape")
    error = float(np.sum(weights * wrong) / np.sum(weights))
    error = min(max(error, 1e-6), 1 - 1e-6)
    alpha = learning_rate * (np.log((1 - error) / error) + np.log(num_classes - 1))
    new = weights * np.exp(alpha * wrong)
    return new * (new.size / new.sum()), float(alpha), error


def combine(probabilities: np.ndarray, member_weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of member probabilities ``[M, N, C]`` -> ``[N, C]``."""
    if member_weights is None:
        member_weights = np.ones(probabilities.shape[0])
    w = np.asarray(member_weights, np.float64)
    w = w / w.sum()
    return np.tensordot(w, probabilities, axes=1)
