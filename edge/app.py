"""The device's main loop: source -> pipeline -> outputs, until the source ends or a
signal arrives. Expensive things (camera, interpreter, broker connection) are created
once here and closed on the way out, whatever happens."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from edge.classifier import Classifier
from edge.outputs.base import Output
from edge.overlay import AnnotatedWriter, Window
from edge.pipeline import Pipeline
from edge.sources.base import Source
from edge.systemd import Notifier

logger = logging.getLogger(__name__)


class Stats:
    """Rolling health figures for status reports."""

    def __init__(self, window: int = 300):
        self.started = time.monotonic()
        self.frames = 0
        self.frames_failed = 0
        self.latencies: deque[float] = deque(maxlen=window)
        self.times: deque[float] = deque(maxlen=window)

    def add(self, result: dict) -> None:
        self.frames += 1
        self.latencies.append(result["latency_ms"]["total"])
        self.times.append(time.monotonic())

    def snapshot(self) -> dict:
        lat = np.array(self.latencies) if self.latencies else np.zeros(1)
        span = self.times[-1] - self.times[0] if len(self.times) > 1 else 0.0
        return {"frames": self.frames, "frames_failed": self.frames_failed,
                "fps": round((len(self.times) - 1) / span, 2) if span > 0 else 0.0,
                "latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
                "latency_ms_p95": round(float(np.percentile(lat, 95)), 3),
                "uptime_s": round(time.monotonic() - self.started, 1)}


class Runner:
    def __init__(self, source: Source, pipeline: Pipeline, outputs: list[Output],
                 annotated: AnnotatedWriter | None = None, window: Window | None = None,
                 max_frames: int | None = None,
                 load_classifier: Callable[[], Classifier] | None = None,
                 watch_model: Callable[[], object] | None = None):
        self.source, self.pipeline, self.outputs = source, pipeline, outputs
        self.load_classifier = load_classifier
        self.watch_model = watch_model  # returns the active model's identity, to notice flashes
        self._watched = watch_model() if watch_model else None
        self._next_watch = 0.0
        self._reload = threading.Event()
        # Commands this runner answers (MQTT cmd/<name>); more are registered by the caller.
        self.commands: dict[str, Callable[[dict], str]] = {}
        if load_classifier is not None:
            self.commands["reload"] = self._command_reload
        self.reload_errors: list[str] = []
        self.annotated, self.window = annotated, window
        self.max_frames = max_frames
        self.stats = Stats()
        self.notifier = Notifier()
        self._stopping = threading.Event()

    def status(self) -> dict:
        return {**self.stats.snapshot(), "model": self.pipeline.classifier.version}

    def request_reload(self) -> None:
        """Load the model again (e.g. after a flash) before the next frame."""
        self._reload.set()

    def _command_reload(self, args: dict) -> str:
        self.request_reload()
        return "the model will be reloaded before the next frame"

    def handle_command(self, name: str, args: dict) -> str:
        if name not in self.commands:
            raise ValueError(f"{name!r} is not available on this device")
        return self.commands[name](args)

    def _reload_model(self) -> None:
        """Swap interpreters between frames; on failure keep serving the old model."""
        self._reload.clear()
        try:
            new = self.load_classifier()
        except Exception as exc:  # any failure to load keeps the old model
            message = f"model reload failed, keeping {self.pipeline.classifier.version}: {exc}"
            logger.error("%s", message)
            self.reload_errors.append(message)
            return
        old = self.pipeline.swap_classifier(new)
        if old is not new:
            old.close()
        logger.info("model reloaded: now %s", new.version)

    def _check_model_changed(self) -> None:
        """Once a second: has `digitcam flash` activated another model? Then reload."""
        if self.watch_model is None or time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + 1.0
        current = self.watch_model()
        if current != self._watched:
            logger.info("the active model changed (%s -> %s): reloading", self._watched,
                        current)
            self._watched = current
            self.request_reload()

    def stop(self, *_args) -> None:
        """Stop after the current frame (safe from a signal handler)."""
        self._stopping.set()
        self.source.stop()

    @contextlib.contextmanager
    def _signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def run(self) -> int:
        with self._signals(), contextlib.ExitStack() as stack:
            stack.enter_context(self.source)
            for output in self.outputs:
                stack.enter_context(output)
            self.notifier.ready()
            for number, frame in enumerate(self.source.frames()):
                self.notifier.alive()
                if self._stopping.is_set():
                    break
                self._check_model_changed()
                if self._reload.is_set():
                    self._reload_model()
                try:
                    result = self.pipeline.process(frame, frame_number=number)
                except (ValueError, RuntimeError) as exc:  # one bad frame must not stop us
                    self.stats.frames_failed += 1
                    logger.error("frame %d from %s failed: %s", number, frame.source, exc)
                    continue
                self.stats.add(result)
                for output in self.outputs:
                    output.publish(result)
                if self.annotated is not None:
                    self.annotated.write(frame.image, result)
                if self.window is not None and not self.window.show(frame.image, result):
                    break
                if self.max_frames is not None and number + 1 >= self.max_frames:
                    break
            self.stats.frames_failed += self.source.frames_failed
            self.notifier.stopping()
        logger.info("stopped after %d frames: %s", self.stats.frames, self.stats.snapshot())
        return 0
