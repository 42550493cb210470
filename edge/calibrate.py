"""Per-camera settings: fit them from a few frames (``digitcam calibrate``), save them as
JSON, and load them for ``digitcam run``."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from edge.reading.locate import LocateSettings

logger = logging.getLogger(__name__)


def load_settings(path: str | Path | None) -> LocateSettings:
    if path is None:
        return LocateSettings()
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the calibration file ({exc})") from exc
    values = data.get("locate", data)
    known = {f.name for f in dataclasses.fields(LocateSettings)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{path}: unknown calibration keys {sorted(unknown)}")
    if values.get("roi") is not None:
        values["roi"] = tuple(int(v) for v in values["roi"])
    return LocateSettings(**values)


def save_settings(settings: LocateSettings, path: str | Path, extra: dict | None = None) -> None:
    data = {"locate": dataclasses.asdict(settings), **(extra or {})}
    Path(path).write_text(json.dumps(data, indent=2))


# --- fitting -------------------------------------------------------------------------

THRESHOLD_CANDIDATES = [("otsu", None), ("percentile", 95.0), ("percentile", 97.0),
                        ("percentile", 98.5)]
CONTRAST_CANDIDATES = [16, 28, 40]


def _score(results: list[dict], labels: list[dict] | None) -> float:
    if labels is not None:
        from edge.evaluate import score

        report = score(results, labels)
        return report["digit_accuracy"] + report["exact_reading_rate"] \
            + 0.5 * report["detection_precision"]
    # No ground truth: a fixed camera sees the same number of digits in every frame, and a
    # good setting reads them confidently.
    counts = np.array([len(r["digits"]) for r in results], float)
    confidences = [d["confidence"] for r in results for d in r["digits"]]
    if not confidences:
        return 0.0
    unsure = sum(d["digit"] == "?" for r in results for d in r["digits"]) / len(confidences)
    return float(np.mean(confidences)) - unsure - 0.2 * float(np.std(counts))


def exposure_hint(grays: list[np.ndarray]) -> str:
    paper = float(np.median([np.percentile(g, 90) for g in grays]))
    ink = float(np.median([np.percentile(g, 2) for g in grays]))
    if paper < 110:
        return f"the paper is dark (level {paper:.0f}/255): raise exposure or add light"
    if paper > 250:
        return "the paper is clipped at white: lower exposure"
    if paper - ink < 60:
        return (f"low contrast between ink and paper ({paper - ink:.0f} levels): add light, "
                "use darker ink or move the camera closer")
    return f"exposure looks fine (paper {paper:.0f}, ink {ink:.0f})"


def fit(frames: list, classifier, labels: list[dict] | None = None,
        fit_roi: bool = True) -> tuple[LocateSettings, dict]:
    """Choose the locate settings that read ``frames`` best; returns them and a report."""
    from edge.pipeline import Pipeline, to_gray

    best, best_score, tried = LocateSettings(), -np.inf, []
    for method, percentile in THRESHOLD_CANDIDATES:
        for contrast in CONTRAST_CANDIDATES:
            settings = LocateSettings(threshold=method, percentile=percentile or 97.0,
                                      min_contrast=contrast)
            pipeline = Pipeline(classifier, settings)
            results = [pipeline.process(f) for f in frames]
            value = _score(results, labels)
            tried.append({"threshold": method, "percentile": percentile,
                          "min_contrast": contrast, "score": round(value, 4)})
            if value > best_score:
                best, best_score, best_results = settings, value, results
    heights = [d["box"][3] for r in best_results for d in r["digits"]]
    frame_height = to_gray(frames[0].image).shape[0]
    changes = {}
    if heights:
        changes["min_height"] = round(max(0.03, 0.5 * float(np.median(heights)) / frame_height),
                                      4)
    boxes = [d["box"] for r in best_results for d in r["digits"]]
    if fit_roi and boxes:
        height, width = to_gray(frames[0].image).shape
        x0 = min(b[0] for b in boxes)
        y0 = min(b[1] for b in boxes)
        x1 = max(b[0] + b[2] for b in boxes)
        y1 = max(b[1] + b[3] for b in boxes)
        margin_x, margin_y = int(0.15 * (x1 - x0)) + 10, int(0.3 * (y1 - y0)) + 10
        roi = (max(0, x0 - margin_x), max(0, y0 - margin_y),
               min(width, x1 + margin_x) - max(0, x0 - margin_x),
               min(height, y1 + margin_y) - max(0, y0 - margin_y))
        if roi[2] * roi[3] < 0.6 * width * height:
            changes["roi"] = tuple(int(v) for v in roi)
    best = dataclasses.replace(best, **changes)
    report = {"score": round(float(best_score), 4), "frames": len(frames), "tried": tried,
              "exposure_hint": exposure_hint([to_gray(f.image) for f in frames])}
    return best, report
