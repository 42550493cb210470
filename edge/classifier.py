"""The int8 digit classifier: one interpreter, created once, owned by a context manager.

``Classifier.classify`` takes every crop of a frame as one uint8 batch ``[N, 28, 28]`` in
MNIST polarity and returns ``[N, C]`` float probabilities, in one invoke: ``C`` is 10
(the digits) or 11 for a model that can answer "not a digit" (``reject_index`` 10).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from edge.bundle import Bundle, BundleError, open_bundle, verify_tensors
from edge.runtime import Runtime, find_runtime

logger = logging.getLogger(__name__)


class Classifier:
    def __init__(self, bundle: Bundle | str | Path, num_threads: int = 1,
                 runtime: Runtime | None = None):
        self.bundle = bundle if isinstance(bundle, Bundle) else open_bundle(bundle)
        self.runtime = runtime or find_runtime()
        self.num_threads = num_threads
        self.load_seconds = 0.0
        self._interpreter = None
        self._batch = 0

    # -- lifecycle ------------------------------------------------------------------
    def open(self) -> Classifier:
        started = time.perf_counter()
        try:
            self._interpreter = self.runtime.interpreter_class(
                model_path=str(self.bundle.model_path), num_threads=self.num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{self.bundle.model_path}: the interpreter cannot load it "
                              f"({exc})") from exc
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        verify_tensors(self.bundle.manifest, self._input, self._output)
        self._batch = int(self._input["shape"][0])
        self.load_seconds = time.perf_counter() - started
        logger.info("loaded model %s with %s in %.1f ms", self.bundle.version, self.runtime,
                    self.load_seconds * 1000)
        return self

    def close(self) -> None:
        self._interpreter = None

    def __enter__(self) -> Classifier:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def classes(self) -> int:
        return len(self.bundle.manifest["labels"])

    @property
    def reject_index(self) -> int | None:
        return self.bundle.reject_index

    # -- inference ------------------------------------------------------------------
    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [batch, 28, 28, 1])
            self._interpreter.allocate_tensors()
            self._batch = batch

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """uint8 ``[N, 28, 28]`` (or ``[N, 28, 28, 1]``) -> float32 probabilities ``[N, C]``."""
        if self._interpreter is None:
            raise RuntimeError("Classifier is not open: use it in a with-block or call open()")
        crops = np.asarray(crops)
        if crops.dtype != np.uint8 or crops.shape[1:3] != (28, 28):
            raise ValueError(f"crops must be uint8 [N, 28, 28], got {crops.dtype} "
                             f"{crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, self.classes), np.float32)
        self._resize(len(crops))
        dtype = self._input["dtype"]
        data = crops.reshape(len(crops), 28, 28, 1)
        if dtype != np.uint8:
            scale, zero = self._input["quantization"]
            data = (data / scale + zero) if scale else data
            data = data.astype(dtype)
        self._interpreter.set_tensor(self._input["index"], data)
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output["index"])
        scale, zero = self._output["quantization"]
        if scale:
            return ((out.astype(np.float32) - zero) * scale).astype(np.float32)
        return out.astype(np.float32)

    def classify_many(self, images: np.ndarray, batch_size: int = 256,
                      progress=None) -> np.ndarray:
        """Classify a large uint8 array in batches (for evaluation and benchmarks)."""
        out = np.empty((len(images), self.classes), np.float32)
        for start in range(0, len(images), batch_size):
            out[start:start + batch_size] = self.classify(images[start:start + batch_size])
            if progress is not None:
                progress(min(batch_size, len(images) - start))
        return out
