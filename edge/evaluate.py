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


def _label_for(result: dict, by_source: dict, by_file: dict) -> dict | None:
    return by_source.get(str(result["source"])) or by_file.get(Path(result["source"]).name)


def _tally(pairs_of_frames: list[tuple[dict, dict]]) -> dict:
    true_digits = predicted_digits = matched = correct = exact = exact_numbers = 0
    true_numbers = found_numbers = 0
    for result, label in pairs_of_frames:
        predictions = result["digits"]
        pairs = match(predictions, label["boxes"])
        true_digits += len(label["digits"])
        predicted_digits += len(predictions)
        matched += len(pairs)
        correct += sum(1 for i, j in pairs if predictions[i]["digit"] == label["digits"][j])
        exact += int(result["reading"] == label["reading"])
        numbers = label.get("numbers")
        if numbers is not None:
            found = list(result.get("numbers", [result["reading"]] if result["reading"] else []))
            exact_numbers += int(found == numbers)
            true_numbers += len(numbers)
            for number in numbers:  # each true number found exactly, once
                if number in found:
                    found.remove(number)
                    found_numbers += 1
    frames = len(pairs_of_frames)
    report = {
        "frames": frames,
        "true_digits": true_digits,
        "detection_recall": matched / true_digits if true_digits else 1.0,
        "detection_precision": matched / predicted_digits if predicted_digits else 1.0,
        "digit_accuracy": correct / true_digits if true_digits else 1.0,
        "exact_reading_rate": exact / frames if frames else 0.0,
        # digits read where no digit is: on a page without digits, every one it reads
        "false_digits_per_frame": (predicted_digits - matched) / frames if frames else 0.0,
    }
    if true_numbers:
        report["exact_numbers_rate"] = exact_numbers / frames  # every number of the frame
        report["number_recall"] = found_numbers / true_numbers  # numbers read exactly
    return report


def score(results: list[dict], labels: list[dict], by_condition: bool = False) -> dict:
    """Recall, precision, digit accuracy and exact-reading rate over matching frames; for
    labels with ``numbers``, exact numbers too. With ``by_condition``, the same for the
    frames of each recorded condition (``"by_condition"``: name -> report)."""
    by_source = {str(label["source"]): label for label in labels}
    by_file = {Path(label["source"]).name: label for label in labels}
    matched_frames, missing = [], 0
    for result in results:
        label = _label_for(result, by_source, by_file)
        if label is None:
            missing += 1
            continue
        matched_frames.append((result, label))
    if not matched_frames:
        raise ValueError("no result matched a label: are these the right files?")
    report = {"frames": len(matched_frames), "unlabelled_results": missing,
              **_tally(matched_frames)}
    if by_condition:
        present = [(r, lab, _conditions_of(lab)) for r, lab in matched_frames]
        names = sorted(set().union(*(conditions for *_, conditions in present)))
        report["by_condition"] = {
            name: _tally([(r, lab) for r, lab, conditions in present if name in conditions])
            for name in names}
        plain = [(r, lab) for r, lab, conditions in present if conditions <= {"jpeg"}]
        if plain:
            report["by_condition"]["(none)"] = _tally(plain)
    return report


def _conditions_of(label: dict) -> set[str]:
    """The conditions a frame was made under: recorded as ``true``, or the JPEG quality;
    other recorded values (rotation, digit height) describe every frame."""
    return {name for name, value in label.get("conditions", {}).items()
            if value is True or (name == "jpeg" and value)}


def condition_table(report: dict) -> str:
    """A Markdown table of a ``by_condition`` report."""
    rows = ["| condition | frames | recall | precision | digit accuracy | exact reading "
            "| exact numbers |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    def line(name, r):
        numbers = f"{r['exact_numbers_rate']:.1%}" if "exact_numbers_rate" in r else "-"
        return (f"| {name} | {r['frames']} | {r['detection_recall']:.1%} | "
                f"{r['detection_precision']:.1%} | {r['digit_accuracy']:.1%} | "
                f"{r['exact_reading_rate']:.1%} | {numbers} |")
    rows.append(line("**all**", report))
    for name, r in report.get("by_condition", {}).items():
        rows.append(line(name, r))
    return "\n".join(rows)


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
