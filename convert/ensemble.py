"""One Keras graph holding every ensemble member, averaging inside.

Input: float32 ``[N, 28, 28, 1]`` raw pixels 0..255 (MNIST polarity); with full-integer
quantization this becomes a uint8 tensor with scale 1 and zero point 0, so the device
feeds its crops as they are.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def load_members(run_dir: Path):
    """The members and their combination weights, as the training report chose them."""
    import keras

    report = json.loads((run_dir / "report.json").read_text())
    names = [m["name"] for m in report["members"]]
    models = [keras.models.load_model(run_dir / name / "model.keras") for name in names]
    return models, [float(w) for w in report["member_weights"]], report


def build_ensemble(members, weights, name: str = "digitcam_ensemble"):
    import keras
    from keras import layers

    if len(members) != len(weights) or not members:
        raise ValueError("need one weight per member, and at least one member")
    total = sum(weights)
    inputs = keras.Input((28, 28, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    outputs = []
    for member, weight in zip(members, weights, strict=True):
        member.trainable = False
        probabilities = member(x, training=False)
        weighted = layers.Rescaling(weight / total, name=f"weight_{member.name}")
        outputs.append(weighted(probabilities))
    y = outputs[0] if len(outputs) == 1 else layers.Add(name="average")(outputs)
    return keras.Model(inputs, y, name=name)
