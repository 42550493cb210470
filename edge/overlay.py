"""Draw boxes, digits and confidences on a frame; write or show annotated frames."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

GREEN, ORANGE, RED = (40, 170, 40), (0, 140, 255), (30, 30, 220)


def draw(image: np.ndarray, result: dict) -> np.ndarray:
    """A BGR copy of ``image`` with the result drawn on it."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    scale = max(0.5, canvas.shape[0] / 700)
    for item in result["digits"]:
        x, y, w, h = item["box"]
        unsure = item["digit"] == "?"
        colour = RED if unsure else (GREEN if item["confidence"] >= 0.9 else ORANGE)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, max(1, int(2 * scale)))
        label = f"{item['digit']} {item['confidence']:.2f}"
        cv2.putText(canvas, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale,
                    colour, max(1, int(2 * scale)), cv2.LINE_AA)
    numbers = "  ".join(result.get("numbers") or []) or result["reading"] or "-"
    banner = f"numbers: {numbers}   {result['latency_ms']['total']:.1f} ms"
    cv2.putText(canvas, banner, (8, int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale,
                (255, 255, 255), max(3, int(4 * scale)), cv2.LINE_AA)
    cv2.putText(canvas, banner, (8, int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale,
                (20, 20, 20), max(1, int(2 * scale)), cv2.LINE_AA)
    return canvas


class AnnotatedWriter:
    """Writes annotated frames into a directory, named after their source file."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, image: np.ndarray, result: dict) -> Path:
        stem = Path(result["source"]).stem if Path(result["source"]).suffix else "frame"
        path = self.directory / f"{stem}_{result['frame']:06d}.jpg"
        cv2.imwrite(str(path), draw(image, result), [cv2.IMWRITE_JPEG_QUALITY, 90])
        return path


class Window:
    """An OpenCV window, when a display and a GUI-enabled OpenCV exist."""

    def __init__(self, title: str = "digitcam"):
        self.title = title
        self.available = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if not self.available:
            logger.info("no display: annotated frames are not shown")

    def show(self, image: np.ndarray, result: dict) -> bool:
        """Show a frame; False when the user pressed q or the window cannot be shown."""
        if not self.available:
            return True
        try:
            cv2.imshow(self.title, draw(image, result))
            return (cv2.waitKey(1) & 0xFF) != ord("q")
        except cv2.error as exc:
            logger.warning("cannot show a window (%s); opencv-python-headless has no GUI. "
                           "Use --save-annotated instead.", exc.err)
            self.available = False
            return True
