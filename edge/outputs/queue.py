"""A bounded, ordered message queue on disk that survives restarts and power cuts.

One file per message, named by a growing sequence number; a message is written to a
temporary name, fsynced and renamed, so a crash leaves either the whole message or none.
When the queue is full the oldest messages are dropped and counted.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from pathlib import Path

logger = logging.getLogger(__name__)


class DiskQueue:
    def __init__(self, directory: str | Path, max_messages: int = 10000):
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        for stale in self.directory.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        names = sorted(p.name for p in self.directory.glob("*.msg"))
        self._names: deque[str] = deque(names)
        self._next = int(names[-1].split(".")[0]) + 1 if names else 0
        self._dropped_file = self.directory / "dropped.count"
        try:
            self.dropped = int(self._dropped_file.read_text())
        except (OSError, ValueError):
            self.dropped = 0
        if names:
            logger.info("message queue %s holds %d undelivered messages", self.directory,
                        len(names))

    def __len__(self) -> int:
        return len(self._names)

    def put(self, message: dict) -> None:
        data = json.dumps(message, separators=(",", ":")).encode()
        with self._lock:
            name = f"{self._next:016d}.msg"
            self._next += 1
            tmp = self.directory / (name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            tmp.rename(self.directory / name)
            self._names.append(name)
            while len(self._names) > self.max_messages:
                oldest = self._names.popleft()
                (self.directory / oldest).unlink(missing_ok=True)
                self.dropped += 1
                self._dropped_file.write_text(str(self.dropped))
                logger.warning("message queue full (%d): dropped the oldest message",
                               self.max_messages)

    def peek(self) -> tuple[str, dict] | None:
        """The oldest message and its id, without removing it."""
        with self._lock:
            while self._names:
                name = self._names[0]
                try:
                    return name, json.loads((self.directory / name).read_bytes())
                except (OSError, json.JSONDecodeError) as exc:
                    logger.error("queued message %s is unreadable (%s); dropped", name, exc)
                    self._names.popleft()
                    (self.directory / name).unlink(missing_ok=True)
                    self.dropped += 1
            return None

    def ack(self, name: str) -> None:
        """Remove a delivered message."""
        with self._lock:
            if self._names and self._names[0] == name:
                self._names.popleft()
            (self.directory / name).unlink(missing_ok=True)
