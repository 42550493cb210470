"""systemd's notify protocol without a dependency: READY, WATCHDOG pings, STOPPING.

With ``Type=notify`` and ``WatchdogSec=`` in the unit, systemd restarts the service when
the frame loop stops pinging — a stuck camera read or a hung inference."""

from __future__ import annotations

import logging
import os
import socket
import time

logger = logging.getLogger(__name__)


class Notifier:
    def __init__(self) -> None:
        self.address = os.environ.get("NOTIFY_SOCKET")
        usec = os.environ.get("WATCHDOG_USEC")
        self.interval = int(usec) / 1e6 / 2 if usec and usec.isdigit() else 5.0
        self._last_ping = 0.0
        self._socket = None
        if self.address:
            if self.address.startswith("@"):
                self.address = "\0" + self.address[1:]
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def notify(self, message: str) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendto(message.encode(), self.address)
        except OSError as exc:
            logger.warning("systemd notify failed: %s", exc)

    def ready(self) -> None:
        self.notify("READY=1")

    def alive(self) -> None:
        """Ping the watchdog, at most twice per watchdog period."""
        now = time.monotonic()
        if now - self._last_ping >= self.interval:
            self._last_ping = now
            self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")
