"""``digitcam convert``: Keras ensemble -> int8 TFLite bundle, with parity and latency."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge import mnist
from edge.bench import latency, tflite_probabilities
from edge.bundle import (
    DIGIT_LABELS,
    FORMAT,
    MANIFEST_FILE,
    MODEL_FILE,
    REJECT_LABEL,
    open_bundle,
    sha256_file,
    tensor_spec,
)

logger = logging.getLogger(__name__)

MAX_ACCURACY_DROP = 0.0005  # 0.05 points
MIN_AGREEMENT = 0.999


def labels_for(classes: int) -> list[str]:
    """The manifest's labels of a model with ``classes`` outputs: the ten digits, and
    "not a digit" as the eleventh where the model has it."""
    if classes == 10:
        return list(DIGIT_LABELS)
    if classes == 11:
        return [*DIGIT_LABELS, REJECT_LABEL]
    raise ValueError(f"a digit model has 10 or 11 outputs, not {classes}")


class ParityError(RuntimeError):
    """The int8 model is measurably worse than the float ensemble."""


def parity_ok(float_acc: float, int8_acc: float, agreement: float,
              max_accuracy_drop: float = MAX_ACCURACY_DROP,
              min_agreement: float = MIN_AGREEMENT) -> bool:
    """The converter's gate: int8 may lose at most ``max_accuracy_drop`` (a fraction; 0.0005
    is 0.05 points) and must agree with float on at least ``min_agreement`` of the digits."""
    return int8_acc >= float_acc - max_accuracy_drop - 1e-12 and agreement >= min_agreement


def _keras_probabilities(model, images: np.ndarray) -> np.ndarray:
    return model.predict(images.astype(np.float32)[..., None], batch_size=1000, verbose=0)


def write_bundle(out_dir: Path, model_bytes: bytes, manifest_extra: dict) -> dict:
    """Write model.tflite and a manifest describing it, atomically replacing ``out_dir``."""
    from edge.runtime import find_runtime

    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model_path = staging / MODEL_FILE
    model_path.write_bytes(model_bytes)
    interpreter = find_runtime().interpreter_class(model_path=str(model_path))
    digest = sha256_file(model_path)
    manifest = {
        "format": FORMAT,
        "version": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + digest[:8],
        "sha256": digest,
        "size_bytes": len(model_bytes),
        "input": tensor_spec(interpreter.get_input_details()[0]),
        "output": tensor_spec(interpreter.get_output_details()[0]),
        "labels": labels_for(int(interpreter.get_output_details()[0]["shape"][-1])),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest_extra,
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    open_bundle(out_dir)  # read back: the bundle must pass the device's own checks
    return manifest


def convert_run(run_dir: Path, out_dir: Path, representative_size: int = 600,
                augmented_fraction: float = 0.25, variants: tuple[str, ...] = (),
                seed: int = 0, data_dir=None, test_limit: int | None = None,
                measure_latency: bool = True, max_accuracy_drop: float = MAX_ACCURACY_DROP,
                min_agreement: float = MIN_AGREEMENT) -> dict:
    from calibration.histogram import load_reference
    from convert import representative as rep
    from convert.ensemble import build_ensemble, load_gate, load_members
    from convert.tflite import convert

    members, weights, train_report = load_members(run_dir)
    gate = load_gate(run_dir, train_report)
    ensemble = build_ensemble(members, weights, gate=gate)
    rep_set = rep.sample(representative_size, seed, augmented_fraction, data_dir)
    calibration = rep_set.images
    negatives_file = run_dir / "negatives.npz"
    if gate is not None and negatives_file.exists():
        # the gate's activations on non-digits are calibrated too (training negatives)
        with np.load(negatives_file) as negatives:
            calibration = np.concatenate([calibration,
                                          negatives["train"][:representative_size // 4]])
    logger.info("converting %d members%s to full-integer TFLite", len(members),
                " and the gate" if gate is not None else "")
    int8_bytes = convert(ensemble, "int8", calibration)

    test = mnist.load_split("test", data_dir)
    images, labels = test.images, test.labels
    if test_limit:
        images, labels = images[:test_limit], labels[:test_limit]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = out_dir.with_name(out_dir.name + ".variants")
    scratch.mkdir(exist_ok=True)
    (scratch / "int8.tflite").write_bytes(int8_bytes)
    float_bytes = convert(ensemble, "float32")
    (scratch / "float32.tflite").write_bytes(float_bytes)
    for variant in variants:
        if variant == "member0-int8":  # one member alone: the accuracy/latency trade-off
            single = build_ensemble(members[:1], [1.0], name="single_member")
            (scratch / "member0-int8.tflite").write_bytes(
                convert(single, "int8", rep_set.images))
        elif variant == "ten-class-int8" and gate is not None:  # the same members, no gate
            ten = build_ensemble(members, weights, name="ten_class")
            (scratch / "ten-class-int8.tflite").write_bytes(
                convert(ten, "int8", rep_set.images))
        elif variant not in ("int8", "float32", "ten-class-int8"):
            (scratch / f"{variant}.tflite").write_bytes(convert(ensemble, variant))

    float_probs = _keras_probabilities(ensemble, images)
    int8_probs = tflite_probabilities(scratch / "int8.tflite", images)
    # With a reject answer, "not a digit" on a test digit counts as a wrong answer.
    float_acc = float((float_probs.argmax(1) == labels).mean())
    int8_acc = float((int8_probs.argmax(1) == labels).mean())
    agreement = float((float_probs.argmax(1) == int8_probs.argmax(1)).mean())
    reject_figures = {}
    if int8_probs.shape[1] == 11:
        reject_figures = {
            "int8_without_reject": float((int8_probs[:, :10].argmax(1) == labels).mean()),
            "float_without_reject": float((float_probs[:, :10].argmax(1) == labels).mean()),
            "false_rejections": float((int8_probs.argmax(1) == 10).mean()),
        }
    sizes = {p.stem: p.stat().st_size for p in scratch.glob("*.tflite")}
    per_digit = {}
    if measure_latency:
        per_digit = {stem: latency(scratch / f"{stem}.tflite", batch=1, threads=1,
                                 repeats=300)["p50"] for stem in sizes}
    report = {
        "accuracy": {"float": float_acc, "int8": int8_acc, **reject_figures},
        "top1_agreement": agreement,
        "test_images": int(len(labels)),
        "size_bytes": sizes,
        "int8_size_ratio": sizes["int8"] / sizes["float32"],
        "latency_ms_per_digit_1_thread": per_digit,
        "representative": rep_set.describe(),
        "members": [m.name for m in members],
        "member_weights": weights,
    }
    logger.info("float %.4f, int8 %.4f, agreement %.4f", float_acc, int8_acc, agreement)
    if not parity_ok(float_acc, int8_acc, agreement, max_accuracy_drop, min_agreement):
        (scratch / "convert_report.json").write_text(json.dumps(report, indent=2))
        raise ParityError(
            f"int8 accuracy {int8_acc:.4%} vs float {float_acc:.4%}, top-1 agreement "
            f"{agreement:.4%}: over the allowed drop of {max_accuracy_drop:.2%} points or "
            f"under {min_agreement:.1%} agreement; no bundle written (report in {scratch})")
    manifest = write_bundle(out_dir, int8_bytes, {
        "preprocessing": {"polarity": "ink_bright",
                          "layout": "mnist_20x20_box_28x28_centre_of_mass",
                          "input": "uint8 raw pixels, 0 = background, 255 = ink",
                          "reference_histogram": load_reference().id},
        "accuracy": {"float": float_acc, "int8": int8_acc, "test_images": int(len(labels)),
                     **reject_figures},
        "representative": report["representative"],
        "training": {k: train_report.get(k) for k in
                     ("test_accuracy", "combiner", "member_weights", "seed", "train_seconds",
                      "classes", "gate",
                      "versions", "quick")},
    })
    report["version"] = manifest["version"]
    (scratch / "convert_report.json").write_text(json.dumps(report, indent=2))
    return report
