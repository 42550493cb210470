"""Still images: one file, a directory (sorted by name) or a glob. ``fps`` paces them,
``loop`` repeats them. An unreadable or corrupt image is logged and skipped."""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

import cv2

from edge.pipeline import Frame
from edge.sources.base import Source, SourceError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


def list_images(spec: str) -> list[Path]:
    path = Path(spec)
    if any(ch in spec for ch in "*?["):
        files = [Path(p) for p in sorted(glob.glob(spec))]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        raise SourceError(f"source {spec!r}: no such file or directory")
    files = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise SourceError(f"source {spec!r}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def sleep_until(deadline: float, stop) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        stop.wait(remaining)


class ImageFiles(Source):
    name = "images"

    def __init__(self, spec: str, fps: float | None = None, loop: bool = False,
                 grayscale: bool = False):
        super().__init__()
        self.files = list_images(spec)
        self.fps, self.loop, self.grayscale = fps, loop, grayscale

    def frames(self):
        index = 0
        next_time = time.monotonic()
        while not self.stopped:
            for path in self.files:
                if self.stopped:
                    return
                if self.fps:
                    sleep_until(next_time, self._stop)
                    next_time = max(next_time + 1.0 / self.fps, time.monotonic())
                started = time.perf_counter()
                flag = cv2.IMREAD_GRAYSCALE if self.grayscale else cv2.IMREAD_COLOR
                image = cv2.imread(str(path), flag)
                if image is None:
                    self.frames_failed += 1
                    logger.error("%s: cannot read this image (corrupt, truncated or not an "
                                 "image); skipped", path)
                    continue
                yield Frame(image, str(path), index, time.time(),
                            (time.perf_counter() - started) * 1000)
                index += 1
            if not self.loop:
                return
