"""Raspberry Pi camera through picamera2 (from the OS packages: apt install
python3-picamera2). Digits need only luminance, so frames come from the low-resolution
YUV420 stream and the Y plane is used as it is: no colour conversion."""

from __future__ import annotations

import logging
import time

from edge.pipeline import Frame
from edge.sources.base import Source, SourceError

logger = logging.getLogger(__name__)


class PiCamera(Source):
    name = "picamera2"

    def __init__(self, camera_num: int = 0, size: tuple[int, int] = (640, 480),
                 fps: float | None = None):
        super().__init__()
        self.camera_num, self.size, self.fps = camera_num, size, fps
        self._camera = None

    def open(self) -> PiCamera:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError("picamera2 is not importable: on Raspberry Pi OS run "
                              "`sudo apt install python3-picamera2` and create the virtualenv "
                              "with --system-site-packages") from exc
        try:
            camera = Picamera2(self.camera_num)
            config = camera.create_video_configuration(
                main={"size": self.size, "format": "YUV420"},
                lores={"size": self.size, "format": "YUV420"})
            if self.fps:
                config["controls"] = {"FrameRate": float(self.fps)}
            camera.configure(config)
            camera.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"Pi camera {self.camera_num} cannot start ({exc}); check the "
                              "ribbon cable and `rpicam-hello --list-cameras`") from exc
        self._camera = camera
        return self

    def close(self) -> None:
        if self._camera is not None:
            self._camera.stop()
            self._camera.close()
            self._camera = None

    def frames(self):
        index = 0
        height = self.size[1]
        while not self.stopped:
            started = time.perf_counter()
            try:
                yuv = self._camera.capture_array("lores")
            except RuntimeError as exc:
                logger.error("Pi camera capture failed (%s); retrying", exc)
                self.frames_failed += 1
                self._stop.wait(0.5)
                continue
            luma = yuv[:height]  # YUV420: the first `height` rows are the Y plane
            yield Frame(luma, f"picam:{self.camera_num}", index, time.time(),
                        (time.perf_counter() - started) * 1000)
            index += 1
