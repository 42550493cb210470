"""One JSON object per processed frame, one per line, to a stream or a file."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from edge.outputs.base import Output

logger = logging.getLogger(__name__)


class JsonlOutput(Output):
    name = "jsonl"

    def __init__(self, path: str | Path | None = None, stream=None):
        self.path = Path(path) if path else None
        self._stream = stream
        self._owned = False

    def open(self) -> JsonlOutput:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = open(self.path, "a", buffering=1)
            self._owned = True
        elif self._stream is None:
            self._stream = sys.stdout
        return self

    def publish(self, result: dict) -> None:
        self._stream.write(json.dumps(result, separators=(",", ":")) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._owned and self._stream is not None:
            self._stream.close()
        self._stream = None
