"""A real mosquitto broker on a free loopback port, and a recording subscriber."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        (workdir / "db").mkdir(exist_ok=True)
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             f"persistence true\npersistence_location {workdir / 'db'}/\n")
        self.process = None

    def start(self) -> Broker:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
            self.process = None


class Recorder:
    """A subscriber with a persistent session that records every message it gets."""

    def __init__(self, port: int, topics: str = "#", client_id: str = "test-recorder"):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.topics = topics
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        # A resumed session keeps its subscription; subscribing again would make the broker
        # resend the retained message, out of order with the session's queued ones.
        if not flags.session_present:
            client.subscribe(self.topics, qos=1)

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload, message.retain))

    def payloads(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    def publish(self, topic: str, payload) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stable_readings(jsonl: Path, frames: int = 1) -> list[str]:
    from edge.outputs.stable import StableReading

    stable = StableReading(frames)
    out = []
    for line in jsonl.read_text().splitlines():
        result = json.loads(line)
        if stable.update(result):
            out.append(result["reading"])
    return out


def dedupe(items: list) -> list:
    """QoS 1 is at-least-once: drop immediate repeats of one message."""
    out = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out
