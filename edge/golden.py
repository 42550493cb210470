"""The on-device golden set a new model must pass before it becomes active: a few hundred
MNIST test digits (shipped in ``edge/data/golden.npz``, with generated non-digits beside
them) and the sample frames with known readings (``samples/``).

A model with a "not a digit" answer is also scored on how many golden digits it rejects
(false rejections) and how many of the golden non-digits it rejects."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

GOLDEN_FILE = Path(__file__).parent / "data" / "golden.npz"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def build(size: int = 300, seed: int = 7, data_dir=None, path: Path = GOLDEN_FILE,
          negatives: int = 300) -> Path:
    """Write the golden set: ``size`` MNIST test digits, ``negatives`` generated non-digits
    (:mod:`train.negatives`, from training digits and a seed no training run uses)."""
    from edge import mnist
    from train.negatives import make_negatives

    test = mnist.load_split("test", data_dir)
    rng = np.random.default_rng(seed)
    index = np.concatenate([rng.choice(np.flatnonzero(test.labels == d), size // 10,
                                       replace=False) for d in range(10)])
    train = mnist.load_split("train", data_dir)
    non_digits, sources = make_negatives(negatives, 90_000 + seed, train.images, train.labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=test.images[index], labels=test.labels[index],
                        test_index=index, negatives=non_digits, negative_sources=sources)
    return path


@dataclass
class GoldenResult:
    digit_accuracy: float
    digits: int
    frame_digit_accuracy: float | None
    frames: int
    false_rejections: float | None = None  # share of golden digits read "not a digit"
    negatives_rejected: float | None = None  # share of golden non-digits read so
    negatives: int = 0

    def as_dict(self) -> dict:
        def rounded(value):
            return None if value is None else round(value, 4)

        return {"digit_accuracy": round(self.digit_accuracy, 4), "digits": self.digits,
                "frame_digit_accuracy": rounded(self.frame_digit_accuracy),
                "frames": self.frames, "false_rejections": rounded(self.false_rejections),
                "negatives_rejected": rounded(self.negatives_rejected),
                "negatives": self.negatives}


def negatives_rejected(classifier, golden_file: Path = GOLDEN_FILE) -> float | None:
    """The share of the golden non-digits a model answers "not a digit"; None for a
    ten-class model or a golden set without non-digits."""
    if classifier.reject_index is None:
        return None
    with np.load(golden_file) as data:
        if "negatives" not in data.files:
            return None
        negatives = data["negatives"]
    return float((classifier.classify_many(negatives).argmax(1)
                  == classifier.reject_index).mean())


def evaluate(classifier, golden_file: Path = GOLDEN_FILE,
             samples_dir: Path | None = SAMPLES_DIR) -> GoldenResult:
    with np.load(golden_file) as data:
        images, digit_labels = data["images"], data["labels"]
        negative_count = len(data["negatives"]) if "negatives" in data.files else 0
    probs = classifier.classify(images)
    accuracy = float((probs.argmax(1) == digit_labels).mean())  # "not a digit" is wrong
    false_rejections = None
    if classifier.reject_index is not None:
        false_rejections = float((probs.argmax(1) == classifier.reject_index).mean())
    frame_accuracy, frames = None, 0
    labels_file = samples_dir / "labels.jsonl" if samples_dir else None
    if labels_file is not None and labels_file.exists():
        import cv2

        from edge.evaluate import read_jsonl, score
        from edge.pipeline import Frame, Pipeline

        labels = read_jsonl(labels_file)
        pipeline = Pipeline(classifier, min_confidence=0.0)
        results = []
        for label in labels:
            image = cv2.imread(str(samples_dir / label["file"]))
            if image is not None:
                results.append(pipeline.process(Frame(image, label["file"], len(results), 0.0)))
        frames = len(results)
        if results:
            frame_accuracy = score(results, labels)["digit_accuracy"]
    return GoldenResult(accuracy, int(len(digit_labels)), frame_accuracy, frames,
                        false_rejections, negatives_rejected(classifier, golden_file),
                        int(negative_count))
