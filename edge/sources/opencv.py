"""OpenCV VideoCapture: a USB camera (index), a video file or a stream URL.

A camera that stops delivering frames is released and reopened with exponential backoff;
the loop never crashes on it. A video file simply ends (or restarts with ``loop``).
"""

from __future__ import annotations

import logging
import time

import cv2

from edge.pipeline import Frame
from edge.sources.base import Source, SourceError

logger = logging.getLogger(__name__)


class VideoCapture(Source):
    name = "opencv"

    def __init__(self, spec: str | int, fps: float | None = None, loop: bool = False,
                 live: bool | None = None, backoff_initial: float = 0.5,
                 backoff_max: float = 10.0, width: int | None = None,
                 height: int | None = None):
        super().__init__()
        self.spec = spec
        self.fps, self.loop = fps, loop
        self.live = isinstance(spec, int) or str(spec).startswith(("rtsp:", "http:", "https:",
                                                                 "/dev/video")) \
            if live is None else live
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.width, self.height = width, height
        self.reconnects = 0
        self._capture = None

    def _open_capture(self) -> bool:
        capture = cv2.VideoCapture(self.spec)
        if not capture.isOpened():
            capture.release()
            return False
        if self.width and self.height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._capture = capture
        return True

    def open(self) -> VideoCapture:
        if not self._open_capture():
            raise SourceError(f"cannot open video source {self.spec!r}: check the camera index "
                              "(ls /dev/video*), the file path or the stream URL")
        return self

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _reconnect(self) -> bool:
        """Reopen a live source, backing off; False when stopped."""
        self.close()
        delay = self.backoff_initial
        while not self.stopped:
            logger.warning("camera %r lost; reconnecting in %.1f s", self.spec, delay)
            if self._stop.wait(delay):
                return False
            if self._open_capture():
                self.reconnects += 1
                logger.info("camera %r reconnected", self.spec)
                return True
            delay = min(delay * 2, self.backoff_max)
        return False

    def frames(self):
        index = 0
        next_time = time.monotonic()
        while not self.stopped:
            if self.fps and not self.live:
                remaining = next_time - time.monotonic()
                if remaining > 0:
                    self._stop.wait(remaining)
                next_time = max(next_time + 1.0 / self.fps, time.monotonic())
            started = time.perf_counter()
            ok, image = self._capture.read() if self._capture is not None else (False, None)
            if not ok or image is None:
                if self.live:
                    if not self._reconnect():
                        return
                    continue
                if self.loop and index > 0:
                    self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                return
            yield Frame(image, str(self.spec), index, time.time(),
                        (time.perf_counter() - started) * 1000)
            index += 1
