"""The on-device golden set a new model must pass before it becomes active: a few hundred
MNIST test digits (shipped in ``edge/data/golden.npz``) and the sample frames with known
readings (``samples/``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

GOLDEN_FILE = Path(__file__).parent / "data" / "golden.npz"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def build(size: int = 300, seed: int = 7, data_dir=None, path: Path = GOLDEN_FILE) -> Path:
    from edge import mnist

    test = mnist.load_split("test", data_dir)
    rng = np.random.default_rng(seed)
    index = np.concatenate([rng.choice(np.flatnonzero(test.labels == d), size // 10,
                                       replace=False) for d in range(10)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=test.images[index], labels=test.labels[index],
                        test_index=index)
    return path


@dataclass
class GoldenResult:
    digit_accuracy: float
    digits: int
    frame_digit_accuracy: float | None
    frames: int

    def as_dict(self) -> dict:
        return {"digit_accuracy": round(self.digit_accuracy, 4), "digits": self.digits,
                "frame_digit_accuracy": None if self.frame_digit_accuracy is None
                else round(self.frame_digit_accuracy, 4), "frames": self.frames}


def evaluate(classifier, golden_file: Path = GOLDEN_FILE,
             samples_dir: Path | None = SAMPLES_DIR) -> GoldenResult:
    data = np.load(golden_file)
    probs = classifier.classify(data["images"])
    accuracy = float((probs.argmax(1) == data["labels"]).mean())
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
    return GoldenResult(accuracy, int(len(data["labels"])), frame_accuracy, frames)
