"""One frame in, one reading out: locate -> normalise -> classify, timed per stage.

:class:`Pipeline` owns the classifier (created once) and turns frames into result
dictionaries of the JSONL output contract. The model can be swapped between frames
(:meth:`Pipeline.swap_classifier`) without losing any.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.histogram import make_correction
from edge.classifier import Classifier
from edge.locate import LocateSettings, locate
from edge.normalize import normalize_all

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """A captured frame: BGR or grayscale uint8 pixels, where it came from, and when."""
    image: np.ndarray
    source: str
    index: int
    time: float
    capture_ms: float = 0.0


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def reading_of(digits: list[dict]) -> str:
    return "".join(str(d["digit"]) for d in digits)


class Pipeline:
    def __init__(self, classifier: Classifier, settings: LocateSettings | None = None,
                 min_confidence: float = 0.4, correction: str = "specify"):
        self.classifier = classifier
        self.settings = settings or LocateSettings()
        self.min_confidence = min_confidence
        self.correct = make_correction(correction)
        self._lock = threading.Lock()

    def swap_classifier(self, classifier: Classifier) -> Classifier:
        """Use ``classifier`` from the next frame on; returns the old one (still open)."""
        with self._lock:
            old, self.classifier = self.classifier, classifier
        return old

    def process(self, frame: Frame, frame_number: int | None = None) -> dict:
        started = time.perf_counter()
        gray = to_gray(frame.image)
        digits = locate(gray, self.settings)
        located = time.perf_counter()
        crops = normalize_all(digits, self.correct)
        prepared = time.perf_counter()
        with self._lock:
            classifier = self.classifier
            probabilities = classifier.classify(crops)
        inferred = time.perf_counter()
        results = []
        for digit, probs in zip(digits, probabilities, strict=True):
            best = int(np.argmax(probs))
            confidence = float(probs[best])
            results.append({"digit": best if confidence >= self.min_confidence else "?",
                            "confidence": round(confidence, 4),
                            "box": [int(v) for v in digit.box]})
        ms = lambda a, b: round((b - a) * 1000, 3)  # noqa: E731
        return {
            "frame": frame.index if frame_number is None else frame_number,
            "source": frame.source,
            "time": round(frame.time, 3),
            "digits": results,
            "reading": reading_of(results),
            "model": classifier.version,
            "latency_ms": {"capture": round(frame.capture_ms, 3),
                           "locate": ms(started, located),
                           "preprocess": ms(located, prepared),
                           "infer": ms(prepared, inferred),
                           "total": round(frame.capture_ms + (inferred - started) * 1000, 3)},
        }
