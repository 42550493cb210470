"""Capture sources, chosen by the form of ``--source``:

========================  =============================================
``picamera2``, ``picam:N`` Raspberry Pi camera N (picamera2)
``0``, ``1``, ...          USB camera by index (OpenCV)
``/dev/videoN``, URL       V4L2 device or network stream (OpenCV)
``clip.mp4``               video file (OpenCV)
``frame.jpg``              one still image
``dir/``                   every image in the directory, sorted by name
``"dir/*.png"``            a glob
========================  =============================================
"""

from __future__ import annotations

from pathlib import Path

from edge.sources.base import Source, SourceError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mjpeg", ".h264"}


def open_source(spec: str, fps: float | None = None, loop: bool = False,
                colour: bool = True) -> Source:
    """Create (not yet open) the source that ``spec`` names.

    ``colour=False`` says nothing will show the frames (no window, no annotated frames):
    image files are then decoded to their luma alone, which JPEG stores as it is, so
    neither the decoder's colour conversion nor the pipeline's gray conversion runs.
    Cameras deliver what they deliver (the Pi camera: its luma plane anyway)."""
    from edge.sources.files import ImageFiles
    from edge.sources.opencv import VideoCapture
    from edge.sources.picam import PiCamera

    if spec in ("picamera2", "picam") or spec.startswith("picam:"):
        number = int(spec.split(":", 1)[1]) if ":" in spec else 0
        return PiCamera(number, fps=fps)
    if spec.isdigit():
        return VideoCapture(int(spec), fps=fps, live=True)
    if "://" in spec or spec.startswith("/dev/video"):
        return VideoCapture(spec, fps=fps, live=True)
    if Path(spec).suffix.lower() in VIDEO_SUFFIXES:
        if not Path(spec).is_file():
            raise SourceError(f"video file {spec!r} does not exist")
        return VideoCapture(spec, fps=fps, loop=loop, live=False)
    return ImageFiles(spec, fps=fps, loop=loop, grayscale=not colour)


__all__ = ["Source", "SourceError", "open_source"]
