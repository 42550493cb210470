"""Decide when a reading is stable: the same complete reading in N consecutive frames."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class StableReading:
    def __init__(self, frames: int = 3):
        if frames < 1:
            raise ValueError("frames must be at least 1")
        self.frames = frames
        self._candidate: str | None = None
        self._count = 0
        self.last_published: str | None = None

    def update(self, result: dict) -> bool:
        """True when ``result`` makes a new stable reading (to be published now).
        Readings with an unsure digit ('?') or no digits never become stable."""
        reading = result["reading"]
        if not reading or "?" in reading:
            self._candidate, self._count = None, 0
            return False
        if reading == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = reading, 1
        if self._count >= self.frames and reading != self.last_published:
            self.last_published = reading
            return True
        return False
