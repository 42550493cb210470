"""MQTT output (paho-mqtt), for fleets and Home Assistant.

Topics under ``<prefix>`` (default ``digitcam/<device_id>``):

* ``availability`` – ``online`` / ``offline`` (last will), retained;
* ``reading`` – the stable reading as a frame JSON object, retained, QoS 1, on change;
* ``frame`` – every frame's JSON object (with ``publish_every_frame``);
* ``capture`` – the next frame after a ``cmd/capture`` command;
* ``status`` – health every ``status_interval`` seconds;
* ``cmd/<name>`` – commands in (``capture``, ``reload``, ``status``); answers on
  ``cmd/result``.

No data loss: readings go through a bounded on-disk queue first and are removed only when
the broker has acknowledged them (PUBACK), one at a time, so they arrive in order after
the broker comes back or the device restarts (at least once: QoS 1 may repeat one).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge.outputs.base import Output
from edge.outputs.queue import DiskQueue
from edge.outputs.stable import StableReading

logger = logging.getLogger(__name__)

COMMANDS = {"capture": {"id"}, "reload": {"id"}, "status": {"id"},
            "flash": {"id", "path", "url", "transfer", "index", "total", "data", "sha256"}}
MAX_COMMAND_BYTES = 4096
MAX_FLASH_CHUNK_BYTES = 320 * 1024  # a base64 chunk of a bundle archive


def parse_host(value: str, default_port: int = 1883) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if not host:
        host, port = value, ""
    try:
        return host, int(port) if port else default_port
    except ValueError as exc:
        raise ValueError(f"--mqtt {value!r}: the port must be a number") from exc


def cpu_temperature() -> float | None:
    try:
        return int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000
    except (OSError, ValueError):
        return None


def validate_command(name: str, payload: bytes) -> dict:
    """The command's arguments, or ValueError saying what is wrong with it."""
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r}; known: {', '.join(sorted(COMMANDS))}")
    limit = MAX_FLASH_CHUNK_BYTES if name == "flash" else MAX_COMMAND_BYTES
    if len(payload) > limit:
        raise ValueError(f"payload of {len(payload)} bytes is over {limit}")
    if not payload.strip():
        return {}
    try:
        args = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"payload is not JSON ({exc})") from exc
    if not isinstance(args, dict):
        raise ValueError("payload must be a JSON object")
    unknown = set(args) - COMMANDS[name]
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)} for {name!r}")
    return args


class MqttOutput(Output):
    name = "mqtt"

    def __init__(self, host: str, port: int, device_id: str, prefix: str, queue_dir,
                 queue_max: int = 10000, stable_frames: int = 3,
                 publish_every_frame: bool = False, status_interval: float = 30.0,
                 discovery_prefix: str = "homeassistant", client_id: str | None = None,
                 username: str | None = None, password: str | None = None,
                 tls: bool = False, ca_file: str | None = None, keepalive: int = 30,
                 status_provider: Callable[[], dict] | None = None,
                 on_command: Callable[[str, dict], str] | None = None):
        self.host, self.port, self.device_id, self.prefix = host, port, device_id, prefix
        self.queue = DiskQueue(queue_dir, queue_max)
        self.stable = StableReading(stable_frames)
        self.publish_every_frame = publish_every_frame
        self.status_interval = status_interval
        self.discovery_prefix = discovery_prefix
        self.client_id = client_id or f"digitcam-{device_id}"
        self.credentials = (username, password)
        self.tls, self.ca_file, self.keepalive = tls, ca_file, keepalive
        self.status_provider = status_provider or (lambda: {})
        self.on_command = on_command
        self.connected = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._capture_next = threading.Event()
        self._client = None
        self._sender = None
        self.model_version = ""

    # -- topics ----------------------------------------------------------------------
    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    # -- the three methods -----------------------------------------------------------
    def open(self) -> MqttOutput:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.credentials[0]:
            client.username_pw_set(*self.credentials)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file)
        client.will_set(self.topic("availability"), "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        self._client = client
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender",
                                        daemon=True)
        self._sender.start()
        return self

    def publish(self, result: dict) -> None:
        self.model_version = result.get("model", self.model_version)
        if self.stable.update(result):
            self._enqueue("reading", result, retain=True)
        if self._capture_next.is_set():
            self._capture_next.clear()
            self._enqueue("capture", result)
        if self.publish_every_frame and self.connected.is_set():
            self._client.publish(self.topic("frame"), json.dumps(result), qos=0)

    def close(self, flush_seconds: float = 5.0) -> None:
        """Deliver what is queued (waiting up to ``flush_seconds``, also for the connection),
        say ``offline``, disconnect. Undelivered messages stay on disk for the next start."""
        deadline = time.monotonic() + flush_seconds
        while len(self.queue) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join(timeout=5)
        if self._client is not None:
            if self.connected.is_set():
                info = self._client.publish(self.topic("availability"), "offline", qos=1,
                                            retain=True)
                try:
                    info.wait_for_publish(timeout=2)
                except (RuntimeError, ValueError):
                    pass
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        if len(self.queue):
            logger.warning("%d messages stay queued in %s for the next start",
                           len(self.queue), self.queue.directory)

    # -- internals -------------------------------------------------------------------
    def _enqueue(self, name: str, payload: dict, retain: bool = False) -> None:
        self.queue.put({"topic": self.topic(name), "payload": payload, "retain": retain})
        self._wake.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            logger.error("MQTT broker %s:%d refused the connection: %s", self.host, self.port,
                         reason_code)
            return
        logger.info("connected to MQTT broker %s:%d", self.host, self.port)
        client.publish(self.topic("availability"), "online", qos=1, retain=True)
        client.subscribe([(self.topic("cmd/+"), 1), (f"{self.discovery_prefix}/status", 1)])
        self._send_discovery(client)
        self.connected.set()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self._stopping.is_set():
            logger.info("disconnected from MQTT broker %s:%d", self.host, self.port)
        elif self.connected.is_set():
            logger.warning("MQTT broker %s:%d disconnected (%s); readings are queued on disk "
                           "until it is back", self.host, self.port, reason_code)
        self.connected.clear()

    def _on_message(self, client, userdata, message):
        if message.topic == f"{self.discovery_prefix}/status":
            if message.payload == b"online":
                logger.info("Home Assistant is online: sending discovery again")
                self._send_discovery(client)
            return
        name = message.topic.rsplit("/", 1)[-1]
        if name == "result":
            return
        try:
            args = validate_command(name, message.payload)
            detail = self._run_command(name, args)
            answer = {"command": name, "ok": True, "detail": detail}
        except ValueError as exc:
            logger.warning("rejected MQTT command on %s: %s", message.topic, exc)
            answer = {"command": name, "ok": False, "error": str(exc)}
            args = {}
        except Exception as exc:  # a command must never take the loop down
            logger.exception("MQTT command %s failed", name)
            answer = {"command": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
            args = {}
        if "id" in args:
            answer["id"] = args["id"]
        client.publish(self.topic("cmd/result"), json.dumps(answer), qos=1)

    def _run_command(self, name: str, args: dict) -> str:
        if name == "capture":
            self._capture_next.set()
            return "the next frame will be published on capture"
        if name == "status":
            self._publish_status()
            return "status published"
        if self.on_command is None:
            raise ValueError(f"{name!r} is not available here")
        return self.on_command(name, args)

    def publish_event(self, name: str, payload: dict) -> None:
        """An immediate QoS 1 message on ``<prefix>/<name>`` (e.g. flash/status)."""
        if self._client is not None:
            self._client.publish(self.topic(name), json.dumps(payload), qos=1)

    def status(self) -> dict:
        status = {**self.status_provider(), "queue_depth": len(self.queue),
                  "queue_dropped": self.queue.dropped, "model": self.model_version,
                  "time": round(time.time(), 3)}
        temperature = cpu_temperature()
        if temperature is not None:
            status["cpu_temperature_c"] = temperature
        return status

    def _publish_status(self) -> None:
        if self._client is not None and self.connected.is_set():
            self._client.publish(self.topic("status"), json.dumps(self.status()), qos=0)

    def _send_discovery(self, client) -> None:
        device = {"identifiers": [f"digitcam_{self.device_id}"],
                  "name": f"digitcam {self.device_id}", "manufacturer": "digitcam",
                  "model": "digitcam edge runtime"}
        sensors = {
            "reading": ("Reading", self.topic("reading"), "{{ value_json.reading }}", None),
            "confidence": ("Confidence", self.topic("reading"),
                           "{{ (value_json.digits | map(attribute='confidence') | min) "
                           "if value_json.digits else 0 }}", None),
            "fps": ("Frames per second", self.topic("status"), "{{ value_json.fps }}", "fps"),
            "model": ("Model version", self.topic("status"), "{{ value_json.model }}", None),
        }
        for key, (name, state_topic, template, unit) in sensors.items():
            config = {"name": name, "unique_id": f"digitcam_{self.device_id}_{key}",
                      "object_id": f"digitcam_{self.device_id}_{key}",
                      "state_topic": state_topic, "value_template": template,
                      "availability_topic": self.topic("availability"),
                      "payload_available": "online", "payload_not_available": "offline",
                      "device": device}
            if unit:
                config["unit_of_measurement"] = unit
            client.publish(f"{self.discovery_prefix}/sensor/{self.device_id}/{key}/config",
                           json.dumps(config), qos=1, retain=True)

    def _send_loop(self) -> None:
        next_status = time.monotonic() + self.status_interval
        while not self._stopping.is_set():
            if time.monotonic() >= next_status:
                self._publish_status()
                next_status = time.monotonic() + self.status_interval
            if not self.connected.is_set():
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            item = self.queue.peek()
            if item is None:
                self._wake.wait(min(1.0, max(0.0, next_status - time.monotonic())))
                self._wake.clear()
                continue
            name, message = item
            info = self._client.publish(message["topic"], json.dumps(message["payload"]),
                                        qos=1, retain=message["retain"])
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError):
                pass
            if info.is_published():
                self.queue.ack(name)
            else:
                self._stopping.wait(0.2)  # not acknowledged: keep it, try again


def publish_once(host: str, device_id: str | None, name: str, payload: dict) -> None:
    """Publish one message (e.g. a benchmark result) and wait for the broker's ack."""
    import socket

    import paho.mqtt.client as mqtt

    device_id = device_id or socket.gethostname()
    address, port = parse_host(host)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(address, port)
    client.loop_start()
    info = client.publish(f"digitcam/{device_id}/{name}", json.dumps(payload), qos=1)
    info.wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()
