"""One Keras graph holding every ensemble member, averaging inside.

Input: float32 ``[N, 28, 28, 1]`` raw pixels 0..255 (MNIST polarity); with full-integer
quantization this becomes a uint8 tensor with scale 1 and zero point 0, so the device
feeds its crops as they are.

The members go into the graph with one exact rewrite for the device: a convolution of
the one-channel image (each member's first layer) becomes a depthwise convolution of
that image repeated over the output channels, and the repeated image is shared by the
members (:func:`with_depthwise_stem`). XNNPACK runs a convolution with a single input
channel as a matrix product nine values deep, badly: the members' 28x28 first layers
took a third of the int8 ensemble's time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
from keras import layers

logger = logging.getLogger(__name__)


def load_members(run_dir: Path):
    """The members and their combination weights, as the training report chose them."""
    report = json.loads((run_dir / "report.json").read_text())
    names = [m["name"] for m in report["members"]]
    models = [keras.models.load_model(run_dir / name / "model.keras") for name in names]
    return models, [float(w) for w in report["member_weights"]], report


def load_gate(run_dir: Path, report: dict):
    """The run's "not a digit" gate (train/gate.py) with its calibrated logit offset
    folded into its last layer's bias (exact: the gate ends in ``sigmoid(w . x + b)``), or
    None for a run without one."""
    if "gate" not in report:
        return None
    gate = keras.models.load_model(run_dir / "gate" / "model.keras")
    last = gate.get_layer("not_a_digit")
    kernel, bias = last.get_weights()
    last.set_weights([kernel, bias + float(report["gate"]["bias"])])
    return gate


def build_ensemble(members, weights, name: str = "digitcam_ensemble", gate=None):
    """One graph: the members' weighted mean. With a ``gate``, the mean of the ten digit
    probabilities is scaled by the gate's "is a digit" and "not a digit" is appended as
    the eleventh output, so the outputs still sum to one."""
    if len(members) != len(weights) or not members:
        raise ValueError("need one weight per member, and at least one member")
    total = sum(weights)
    inputs = keras.Input((28, 28, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    repeated = {}  # channel count -> the image repeated that often, shared by the members
    outputs = []
    for member, weight in zip(members, weights, strict=True):
        probabilities = _apply(member, x, repeated)
        weighted = layers.Rescaling(weight / total, name=f"weight_{member.name}")
        outputs.append(weighted(probabilities))
    y = outputs[0] if len(outputs) == 1 else layers.Add(name="average")(outputs)
    if gate is not None:
        y = GateOutputs(name="with_reject")([y, _apply(gate, x, repeated)])
    return keras.Model(inputs, y, name=name)


def _apply(model, x, repeated: dict):
    """``model`` (frozen) on the image ``x``, its one-channel first layer rewritten as a
    depthwise convolution of the repeated image where it can be; ``repeated`` (channel
    count -> repeated image) is shared by every model of the graph."""
    model.trainable = False
    rewritten = with_depthwise_stem(model)
    if rewritten is None:
        return model(x, training=False)
    channels = rewritten.inputs[0].shape[-1]
    if channels not in repeated:
        repeated[channels] = RepeatChannel(channels, name=f"repeat_{channels}")(x)
    return rewritten(repeated[channels], training=False)


class GateOutputs(keras.layers.Layer):
    """``[digits * (1 - r), r]``: ``r`` is the gate's "not a digit" probability. Products
    only, which quantize cleanly (a division here cost int8 15 points of accuracy)."""

    def call(self, inputs):
        digits, reject = inputs
        return keras.ops.concatenate([digits * (1.0 - reject), reject], axis=-1)

    def compute_output_shape(self, input_shapes):
        digits, _ = input_shapes
        return (*digits[:-1], digits[-1] + 1)


def with_depthwise_stem(member):
    """``member`` taking its one-channel image repeated over ``C`` channels, its first
    layer (a ``C``-channel convolution of the image) rewritten as a depthwise convolution;
    None when the member's image feeds anything else. Layers and weights are shared with
    ``member``, not copied.

    Exact: a ``k x k`` convolution from one channel to ``C`` has one ``k x k`` filter per
    output channel, which is what a depthwise convolution applies to ``C`` copies of the
    channel. In int8 the copies are the input's own values (a broadcast multiply by ones).
    """
    image = member.inputs[0]
    consumers = [layer for layer in member.layers
                 if not isinstance(layer, keras.layers.InputLayer)
                 and any(t is image for t in keras.tree.flatten(layer.input))]
    if len(consumers) != 1 or not _is_single_channel_conv(consumers[0]):
        return None
    stem = consumers[0]
    repeated = keras.Input((*image.shape[1:-1], stem.filters), name=f"{member.name}_repeated")

    def call(layer, *args, **kwargs):
        if layer is not stem:
            return layer(*args, **kwargs)
        depthwise = layers.DepthwiseConv2D(
            stem.kernel_size, strides=stem.strides, padding=stem.padding,
            dilation_rate=stem.dilation_rate, use_bias=stem.use_bias,
            activation=stem.activation, name=f"{stem.name}_depthwise")
        y = depthwise(*args)
        kernel, *bias = stem.get_weights()
        depthwise.set_weights([kernel.reshape(*stem.kernel_size, stem.filters, 1), *bias])
        return y

    return keras.models.clone_model(member, input_tensors=repeated,
                                    clone_function=lambda layer: layer, call_function=call)


def _is_single_channel_conv(layer) -> bool:
    return (type(layer) is layers.Conv2D and layer.groups == 1
            and layer.data_format == "channels_last" and layer.input.shape[-1] == 1)


class RepeatChannel(keras.layers.Layer):
    """A one-channel image repeated over ``channels`` channels."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def call(self, image):
        return image * keras.ops.ones((1, 1, 1, self.channels), dtype=image.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)
