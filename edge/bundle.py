"""Model bundles: a directory with ``model.tflite`` and ``manifest.json``.

Reading a bundle checks everything the device relies on before the model is used: the
manifest's fields, the file's size and sha256, and that the interpreter's tensors are the
ones the manifest promises. Every failure raises :class:`BundleError` naming the problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

FORMAT = 1
MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
REQUIRED_FIELDS = ("format", "version", "sha256", "size_bytes", "input", "output", "labels",
                   "preprocessing", "accuracy", "created")
# Preprocessing this runtime implements; a bundle asking for anything else is refused.
SUPPORTED_PREPROCESSING = {
    "polarity": {"ink_bright"},
    "layout": {"mnist_20x20_box_28x28_centre_of_mass"},
}
MAX_MODEL_BYTES = 64 * 1024 * 1024
DIGIT_LABELS = [str(d) for d in range(10)]
DIGIT_CLASSES = len(DIGIT_LABELS)  # outputs 0..9 are the digits, in every bundle
REJECT_LABEL = "not_a_digit"  # the eleventh answer of a model that can say "not a digit"


class BundleError(ValueError):
    """A bundle that must not be used, with the reason."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def reject_index(self) -> int | None:
        """The output index of "not a digit", or None for a ten-class model."""
        labels = self.manifest["labels"]
        return labels.index(REJECT_LABEL) if REJECT_LABEL in labels else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST_FILE
    if not path.exists():
        raise BundleError(f"{directory}: no {MANIFEST_FILE}; is this a model bundle?")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: the manifest must be a JSON object")
    missing = [k for k in REQUIRED_FIELDS if k not in manifest]
    if missing:
        raise BundleError(f"{path}: missing fields {', '.join(missing)}")
    if manifest["format"] != FORMAT:
        raise BundleError(f"{path}: bundle format {manifest['format']!r}; this runtime reads "
                          f"format {FORMAT}. Upgrade digitcam or re-convert the model.")
    labels = manifest["labels"]
    if labels not in (DIGIT_LABELS, [*DIGIT_LABELS, REJECT_LABEL]):
        raise BundleError(f"{path}: labels {labels!r} are neither the ten digits nor the ten "
                          f"digits and {REJECT_LABEL!r}; this runtime reads only those")
    if not isinstance(manifest["preprocessing"], dict):
        raise BundleError(f"{path}: preprocessing must be an object")
    for key, allowed in SUPPORTED_PREPROCESSING.items():
        value = manifest["preprocessing"].get(key)
        if value not in allowed:
            raise BundleError(f"{path}: preprocessing {key}={value!r} is not one this runtime "
                              f"has ({', '.join(sorted(allowed))})")
    return manifest


def verify_file(directory: Path, manifest: dict) -> None:
    model = Path(directory) / MODEL_FILE
    if not model.is_file() or model.is_symlink():
        raise BundleError(f"{directory}: {MODEL_FILE} is missing or not a regular file")
    size = model.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise BundleError(f"{model}: {size} bytes is over the {MAX_MODEL_BYTES} byte limit")
    if size != manifest["size_bytes"]:
        raise BundleError(f"{model}: {size} bytes, the manifest says {manifest['size_bytes']} "
                          "(truncated or replaced file)")
    actual = sha256_file(model)
    if actual != manifest["sha256"]:
        raise BundleError(f"{model}: sha256 {actual[:16]}… does not match the manifest's "
                          f"{str(manifest['sha256'])[:16]}… (corrupt or tampered file)")


def tensor_spec(detail: dict) -> dict:
    """The manifest's view of one interpreter tensor detail."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return {"name": detail["name"], "shape": [int(d) for d in detail["shape_signature"]],
            "dtype": detail["dtype"].__name__, "scale": float(scale),
            "zero_point": int(zero_point)}


def verify_tensors(manifest: dict, input_detail: dict, output_detail: dict) -> None:
    for role, detail in (("input", input_detail), ("output", output_detail)):
        actual, promised = tensor_spec(detail), manifest[role]
        for key in ("shape", "dtype", "scale", "zero_point"):
            a, p = actual[key], promised.get(key)
            same = abs(a - p) <= 1e-6 * max(1.0, abs(p)) if key == "scale" and p is not None \
                else a == p
            if not same:
                raise BundleError(f"{role} tensor {key} is {a}, the manifest says {p}")
    if manifest["input"]["shape"][1:] != [28, 28, 1]:
        raise BundleError(f"input shape {manifest['input']['shape']} is not [N, 28, 28, 1]")
    if manifest["output"]["shape"][-1] != len(manifest["labels"]):
        raise BundleError("output size does not match the number of labels")


def open_bundle(directory: str | Path) -> Bundle:
    """Read and check a bundle's manifest and model file (not yet the tensors: see
    :class:`edge.classifier.Classifier`, which checks them when it loads the model)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"{directory}: not a bundle directory (model.tflite + manifest.json)")
    manifest = read_manifest(directory)
    verify_file(directory, manifest)
    return Bundle(directory, manifest)
