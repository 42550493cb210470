"""Serial output (pyserial): one line per stable reading, JSON or compact text
(``12345 0.98 | 12 345``: the reading, its lowest digit confidence and, after a bar, the
numbers it holds). A port that is missing or disappears is reopened with backoff; lines
wait in memory meanwhile (bounded)."""

from __future__ import annotations

import json
import logging
import time
from collections import deque

from edge.outputs.base import Output
from edge.outputs.stable import StableReading

logger = logging.getLogger(__name__)


def format_line(result: dict, mode: str) -> str:
    if mode == "text":
        confidence = min((d["confidence"] for d in result["digits"]), default=0.0)
        numbers = " ".join(result.get("numbers") or [result["reading"]])
        return f"{result['reading']} {confidence:.2f} | {numbers}\n"
    return json.dumps(result, separators=(",", ":")) + "\n"


class SerialOutput(Output):
    name = "serial"

    def __init__(self, port: str, baud: int = 115200, mode: str = "json",
                 stable_frames: int = 3, backoff_initial: float = 0.5,
                 backoff_max: float = 10.0, max_pending: int = 1000):
        self.port, self.baud, self.mode = port, baud, mode
        self.stable = StableReading(stable_frames)
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.pending: deque[str] = deque(maxlen=max_pending)
        self._serial = None
        self._backoff = backoff_initial
        self._next_try = 0.0

    def _try_open(self) -> bool:
        import serial

        if time.monotonic() < self._next_try:
            return False
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baud, timeout=1,
                                                 write_timeout=2)
        except (serial.SerialException, OSError) as exc:
            logger.warning("serial port %s unavailable (%s); retrying in %.1f s", self.port,
                           exc, self._backoff)
            self._next_try = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self.backoff_max)
            return False
        self._backoff = self.backoff_initial
        logger.info("serial port %s open at %d baud", self.port, self.baud)
        return True

    def open(self) -> SerialOutput:
        self._try_open()
        return self

    def publish(self, result: dict) -> None:
        if self.stable.update(result):
            self.pending.append(format_line(result, self.mode))
        self.flush()

    def flush(self) -> None:
        import serial

        if not self.pending:
            return
        if self._serial is None and not self._try_open():
            return
        while self.pending:
            try:
                self._serial.write(self.pending[0].encode())
                self._serial.flush()
            except (serial.SerialException, OSError) as exc:
                logger.warning("serial port %s lost (%s); reopening", self.port, exc)
                self._serial.close()
                self._serial = None
                self._next_try = time.monotonic() + self._backoff
                return
            self.pending.popleft()

    def close(self) -> None:
        self._next_try = 0.0  # a last attempt, whatever the backoff says
        self.flush()
        if self._serial is not None:
            self._serial.close()
            self._serial = None
