"""Keras -> TFLite through a SavedModel (``model.export`` + ``from_saved_model``), the path
that works with TF 2.21 and Keras 3."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

VARIANTS = ("int8", "float16", "dynamic", "float32")


def convert(model, variant: str, representative: np.ndarray | None = None) -> bytes:
    """Convert ``model`` to TFLite bytes.

    ``int8``: full integer, uint8 input (raw pixels) and uint8 output (probabilities);
    ``float16``: float16 weights; ``dynamic``: int8 weights, float activations;
    ``float32``: no quantization.
    """
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    with tempfile.TemporaryDirectory(prefix="digitcam-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if variant != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if variant == "int8":
            if representative is None or len(representative) == 0:
                raise ValueError("int8 conversion needs a representative dataset")
            # Include the pixel extremes so the input quantizes as scale 1, zero point 0.
            extremes = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)])
            samples = np.concatenate([extremes, representative]).astype(np.float32)

            def representative_dataset():
                for image in samples:
                    yield [image[None, ..., None]]

            converter.representative_dataset = representative_dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        return converter.convert()
