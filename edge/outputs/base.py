"""Where results go. Every output has the same three methods: ``open``, ``publish`` (one
frame's result dictionary) and ``close``. ``publish`` must never raise on a transport
problem: an output that cannot deliver now keeps the message and says so in the log."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class Output:
    name = "output"

    def open(self) -> Output:
        return self

    def publish(self, result: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Output:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


class NullOutput(Output):
    """Drops everything: a drop-in for tests and benchmarks."""
    name = "null"

    def publish(self, result: dict) -> None:
        pass
