"""The capture interface: every source yields :class:`edge.pipeline.Frame` objects.

A source is a context manager that owns its device. ``frames()`` is a generator that
ends when the source is exhausted (files) or :meth:`Source.stop` is called (cameras).
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


class SourceError(RuntimeError):
    """A source that cannot be opened at all (missing file, no such camera)."""


class Source:
    name = "source"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.frames_failed = 0

    def open(self) -> Source:
        return self

    def close(self) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def frames(self):
        raise NotImplementedError

    def __enter__(self) -> Source:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
