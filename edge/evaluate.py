"""Score a run's JSONL output against ground-truth labels (``digitcam evaluate``).

Detections are matched to true digits by box overlap (IoU >= 0.3, greedy, best first).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

MIN_IOU = 0.3


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def match(predicted: list[dict], truth_boxes: list[list[int]]) -> list[tuple[int, int]]:
    """(prediction index, truth index) pairs."""
    pairs = sorted(((iou(p["box"], t), i, j) for i, p in enumerate(predicted)
                    for j, t in enumerate(truth_boxes)), reverse=True)
    used_p, used_t, out = set(), set(), []
    for score, i, j in pairs:
        if score < MIN_IOU:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            out.append((i, j))
    return out


def score(results: list[dict], labels: list[dict]) -> dict:
    """Recall, precision, digit accuracy and exact-reading rate over matching frames."""
    by_source = {str(label["source"]): label for label in labels}
    by_file = {Path(label["source"]).name: label for label in labels}
    true_digits = predicted_digits = matched = correct = exact = frames = 0
    missing = 0
    for result in results:
        label = by_source.get(str(result["source"])) or by_file.get(Path(result["source"]).name)
        if label is None:
            missing += 1
            continue
        frames += 1
        predictions = result["digits"]
        pairs = match(predictions, label["boxes"])
        true_digits += len(label["digits"])
        predicted_digits += len(predictions)
        matched += len(pairs)
        correct += sum(1 for i, j in pairs if predictions[i]["digit"] == label["digits"][j])
        exact += int(result["reading"] == label["reading"])
    if frames == 0:
        raise ValueError("no result matched a label: are these the right files?")
    return {
        "frames": frames,
        "unlabelled_results": missing,
        "true_digits": true_digits,
        "detection_recall": matched / true_digits if true_digits else 1.0,
        "detection_precision": matched / predicted_digits if predicted_digits else 1.0,
        "digit_accuracy": correct / true_digits if true_digits else 1.0,
        "exact_reading_rate": exact / frames,
    }


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from exc
    return rows
