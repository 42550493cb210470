"""Find a TFLite interpreter: ``ai_edge_litert`` first, then ``tflite_runtime``, then
``tensorflow.lite`` (only as a last resort: a device should never need TensorFlow)."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# (module holding Interpreter, distribution name for the version)
CANDIDATES = [
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite.python.interpreter", "tensorflow"),  # what tf.lite.Interpreter is
]


class RuntimeMissingError(ImportError):
    """No TFLite interpreter package is installed."""


@dataclass(frozen=True)
class Runtime:
    name: str
    version: str
    interpreter_class: type

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def _version(dist: str) -> str:
    for name in (dist, dist.replace("-", "_"), "tensorflow-cpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def find_runtime(preferred: str | None = None) -> Runtime:
    """The first importable interpreter, or the one named by ``preferred``
    (``ai_edge_litert``, ``tflite_runtime`` or ``tensorflow``)."""
    errors = []
    for module_name, dist in CANDIDATES:
        short = module_name.split(".")[0]
        if preferred and short != preferred:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            errors.append(f"{module_name}: {exc}")
            continue
        logger.debug("using %s", module_name)
        return Runtime(short, _version(dist), module.Interpreter)
    raise RuntimeMissingError(
        "no TFLite interpreter found (" + "; ".join(errors) + "). Install one: "
        "pip install 'digitcam[edge]' (ai-edge-litert)")
