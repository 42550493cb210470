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
from edge.bundle import DIGIT_CLASSES
from edge.classifier import Classifier
from edge.reading.locate import Digit, LocateSettings, locate
from edge.reading.normalize import normalize_all
from edge.reading.numbers import group_numbers, in_words
from edge.reading.split import choose, split_candidates

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


MAX_SPLIT_PIECES = 96  # pieces of touching digits classified per frame, at most


def split_all(digits: list[Digit]) -> list[list[list[Digit]]]:
    """Each digit's ways to split into touching digits, until ``MAX_SPLIT_PIECES`` pieces
    are proposed in the frame (the widest groups first): a frame of many wide groups
    cannot make one invoke classify hundreds of crops."""
    alternatives: list[list[list[Digit]]] = [[] for _ in digits]
    budget = MAX_SPLIT_PIECES
    widest = sorted(range(len(digits)), key=lambda i: -(digits[i].view_box or digits[i].box)[2])
    for i in widest:
        proposed = split_candidates(digits[i])
        size = sum(len(alt) for alt in proposed)
        if size > budget:
            continue
        alternatives[i] = proposed
        budget -= size
    return alternatives


def drop_rejected(digits: list[Digit], probabilities, reject_index: int | None
                  ) -> tuple[list[Digit], list[np.ndarray], int]:
    """The crops that are digits, their probabilities, and how many were dropped: those
    whose best answer is "not a digit", and digit-shaped letters inside a word of
    rejected letters (:func:`edge.reading.numbers.in_words`). A ten-class model drops
    nothing."""
    if reject_index is None:
        return digits, list(probabilities), 0
    rejected = [int(np.argmax(probs)) == reject_index for probs in probabilities]
    letters = in_words([d.view_box or d.box for d in digits], rejected)
    keep = [i for i in range(len(digits)) if not rejected[i] and i not in letters]
    return ([digits[i] for i in keep], [probabilities[i] for i in keep],
            len(digits) - len(keep))


class Pipeline:
    def __init__(self, classifier: Classifier, settings: LocateSettings | None = None,
                 min_confidence: float = 0.4, correction: str = "specify",
                 split_touching: bool | None = None):
        self.classifier = classifier
        # Segmentation by recognition (edge.reading.split). By default on with a model
        # that can answer "not a digit" (a wrong cut reads as one), off with a ten-class
        # model, which split wide single digits (a 5 with a long bar) as often as it
        # separated touching ones.
        self._split_touching = split_touching
        self.settings = settings or LocateSettings()
        self.min_confidence = min_confidence
        self.correct = make_correction(correction)
        self._lock = threading.Lock()

    @property
    def split_touching(self) -> bool:
        if self._split_touching is not None:
            return self._split_touching
        return self.classifier.reject_index is not None

    def swap_classifier(self, classifier: Classifier) -> Classifier:
        """Use ``classifier`` from the next frame on; returns the old one (still open)."""
        with self._lock:
            old, self.classifier = self.classifier, classifier
        return old

    def process(self, frame: Frame, frame_number: int | None = None) -> dict:
        started = time.perf_counter()
        gray = to_gray(frame.image)
        digits = locate(gray, self.settings)
        alternatives = split_all(digits) if self.split_touching else [[] for _ in digits]
        pieces = [p for alts in alternatives for alt in alts for p in alt]
        located = time.perf_counter()
        crops = normalize_all(digits + pieces, self.correct)
        prepared = time.perf_counter()
        with self._lock:  # a model swapped in meanwhile is used from the next frame on
            classifier = self.classifier
            probabilities = classifier.classify(crops)
        inferred = time.perf_counter()
        digits, probabilities = self._choose_splits(digits, alternatives, probabilities)
        digits, probabilities, rejected = drop_rejected(digits, probabilities,
                                                        classifier.reject_index)
        results = []
        for digit, probs in zip(digits, probabilities, strict=True):
            digits_only = probs[:DIGIT_CLASSES]
            best = int(np.argmax(digits_only))
            # among the digits: a crop kept as a digit is as sure of its digit as the
            # digit answers say, whatever share "not a digit" took
            confidence = float(digits_only[best] / max(float(digits_only.sum()), 1e-6))
            results.append({"digit": best if confidence >= self.min_confidence else "?",
                            "confidence": round(confidence, 4),
                            "box": [int(v) for v in digit.box]})
        view_boxes = [d.view_box or d.box for d in digits]
        numbers = [reading_of([results[i] for i in number])
                   for number in group_numbers(view_boxes)]
        ms = lambda a, b: round((b - a) * 1000, 3)  # noqa: E731
        return {
            "frame": frame.index if frame_number is None else frame_number,
            "source": frame.source,
            "time": round(frame.time, 3),
            "digits": results,
            "numbers": numbers,
            "reading": reading_of(results),
            "rejected": rejected,
            "model": classifier.version,
            "latency_ms": {"capture": round(frame.capture_ms, 3),
                           "locate": ms(started, located),
                           "preprocess": ms(located, prepared),
                           "infer": ms(prepared, inferred),
                           "total": round(frame.capture_ms + (inferred - started) * 1000, 3)},
        }

    @staticmethod
    def _choose_splits(digits: list[Digit], alternatives: list[list[list[Digit]]],
                       probabilities: np.ndarray) -> tuple[list[Digit], list[np.ndarray]]:
        """Each located digit read whole or as the touching digits it splits into best."""
        chosen, chosen_probs = [], []
        cursor = len(digits)
        for i, digit in enumerate(digits):
            alts, alt_probs = alternatives[i], []
            for alt in alts:
                alt_probs.append(probabilities[cursor:cursor + len(alt)])
                cursor += len(alt)
            pieces, probs = choose(digit, probabilities[i], alts, alt_probs) if alts else \
                ([digit], probabilities[i:i + 1])
            chosen += pieces
            chosen_probs += list(probs)
        return chosen, chosen_probs
