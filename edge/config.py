"""The device's typed configuration, read from TOML once at start and validated.

Unknown keys are rejected, wrong types and values are reported with the key and its line
in the file. Command-line flags override the file. ``digitcam run --check-config``
validates and exits. Every field has a description (``digitcam run --print-config``
prints the defaults with them).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from calibration.histogram import CORRECTIONS  # noqa: E402

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration problem, with the key and (when known) the line."""


def describe(default: Any, help: str, **kwargs):  # noqa: A002 - "help" reads best here
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass
class SourceConfig:
    source: str | None = describe(None, "capture source: picamera2, picam:N, camera index, "
                                        "video file, image, directory or glob")
    fps: float | None = describe(None, "pace file sources to this many frames per second")
    loop: bool = describe(False, "repeat file sources forever")


@dataclass
class ModelConfig:
    bundle: str | None = describe(None, "model bundle directory; default: the active model "
                                        "of the model store, else the shipped model")
    store: str = describe("~/.local/share/digitcam/models",
                          "model store directory used by `digitcam flash`")
    threads: int = describe(1, "interpreter threads")
    min_confidence: float = describe(0.4, "below this, a digit is reported as '?' "
                                          "(0.4 was chosen on the tuning scenes)")
    trusted_keys: list = describe([], "Ed25519 public keys (hex) whose bundles may be flashed")
    allow_unsigned: bool = describe(False, "accept unsigned bundles (development only)")


@dataclass
class LocateConfig:
    calibration: str | None = describe(None, "calibration file written by `digitcam "
                                             "calibrate` (threshold, sizes, region)")
    correction: str = describe("specify", "crop intensity correction: specify (histogram "
                                          "specification toward MNIST), gamma or none")


@dataclass
class OutputConfig:
    jsonl: bool = describe(False, "write one JSON object per frame to stdout")
    jsonl_file: str | None = describe(None, "write the JSON lines to this file")
    save_annotated: str | None = describe(None, "write annotated frames to this directory")
    display: bool = describe(False, "show annotated frames in a window (needs a display)")
    stable_frames: int = describe(3, "a reading is stable after this many agreeing frames")
    publish_every_frame: bool = describe(False, "MQTT: publish every frame on <prefix>/frame")
    status_interval: float = describe(30.0, "seconds between health reports")


@dataclass
class MqttConfig:
    host: str | None = describe(None, "broker host; MQTT is off when unset")
    port: int = describe(1883, "broker port")
    tls: bool = describe(False, "connect with TLS")
    ca_file: str | None = describe(None, "CA certificate for TLS")
    username: str | None = describe(None, "broker user name")
    password: str | None = describe(None, "broker password")
    client_id: str | None = describe(None, "MQTT client id; default digitcam-<device_id>")
    topic_prefix: str | None = describe(None, "topic prefix; default digitcam/<device_id>")
    discovery_prefix: str = describe("homeassistant", "Home Assistant discovery prefix")
    queue_dir: str = describe("~/.local/share/digitcam/queue",
                              "on-disk queue for messages while the broker is unreachable")
    queue_max: int = describe(10000, "queued messages kept at most; the oldest are dropped")
    keepalive: int = describe(30, "MQTT keepalive seconds")


@dataclass
class SerialConfig:
    port: str | None = describe(None, "serial port (e.g. /dev/ttyUSB0); serial is off when "
                                      "unset")
    baud: int = describe(115200, "baud rate")
    mode: str = describe("json", "json: one JSON line per stable reading; text: '12345 0.98'")


@dataclass
class Config:
    device_id: str = describe(socket.gethostname(), "this device's id, used in MQTT topics")
    source: SourceConfig = field(default_factory=SourceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    locate: LocateConfig = field(default_factory=LocateConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    serial: SerialConfig = field(default_factory=SerialConfig)

    @property
    def topic_prefix(self) -> str:
        return self.mqtt.topic_prefix or f"digitcam/{self.device_id}"


CHOICES = {("locate", "correction"): set(CORRECTIONS),
           ("serial", "mode"): {"json", "text"}}
POSITIVE = {("model", "threads"), ("output", "stable_frames"), ("mqtt", "port"),
            ("serial", "baud"), ("mqtt", "queue_max"), ("output", "status_interval")}


def _line_of(text: str, key: str) -> str:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=", re.MULTILINE)
    match = pattern.search(text)
    return f" (line {text[:match.start()].count(chr(10)) + 1})" if match else ""


def _check_type(value: Any, annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (type(int | None),) else ()
    if options:
        return any(_check_type(value, o) for o in options)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (list, dict, str, bool):
        return isinstance(value, annotation)
    return True


def _fill(instance, values: dict, text: str, section: str | None) -> None:
    hints = get_type_hints(type(instance))
    known = {f.name for f in dataclasses.fields(instance)}
    for key, value in values.items():
        where = f"{section}.{key}" if section else key
        if key not in known:
            raise ConfigError(f"unknown key {where!r}{_line_of(text, key)}; known keys: "
                              f"{', '.join(sorted(known))}")
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where!r} must be a [{key}] table{_line_of(text, key)}")
            _fill(current, value, text, key)
            continue
        if not _check_type(value, hints[key]):
            raise ConfigError(f"{where}{_line_of(text, key)}: {value!r} is not of type "
                              f"{getattr(hints[key], '__name__', hints[key])}")
        if isinstance(value, int) and hints[key] in (float, float | None):
            value = float(value)
        setattr(instance, key, value)


def validate(config: Config) -> Config:
    for section in ("model", "locate", "output", "mqtt", "serial"):
        part = getattr(config, section)
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            if (section, f.name) in CHOICES and value not in CHOICES[(section, f.name)]:
                raise ConfigError(f"{section}.{f.name}: {value!r} is not one of "
                                  f"{', '.join(sorted(CHOICES[(section, f.name)]))}")
            if (section, f.name) in POSITIVE and value is not None and value <= 0:
                raise ConfigError(f"{section}.{f.name}: must be positive, not {value!r}")
    if not 0.0 <= config.model.min_confidence <= 1.0:
        raise ConfigError("model.min_confidence must be between 0 and 1")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", config.device_id):
        raise ConfigError(f"device_id {config.device_id!r}: use letters, digits, '_' and '-'")
    return config


def load_config(path: str | Path | None) -> Config:
    """Defaults, updated from the TOML file at ``path`` (if any), validated."""
    config = Config()
    if path is None:
        return validate(config)
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        _fill(config, values, text, None)
        return validate(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def defaults_as_toml() -> str:
    """The default configuration as commented TOML."""
    lines = []
    config = Config()
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not dataclasses.is_dataclass(value):
            lines += [f"# {f.metadata.get('help', '')}", f"{f.name} = {_toml(value)}", ""]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            lines.append(f"[{f.name}]")
            for sub in dataclasses.fields(value):
                lines.append(f"# {sub.metadata.get('help', '')}")
                v = getattr(value, sub.name)
                lines.append(f"# {sub.name} =" if v is None else f"{sub.name} = {_toml(v)}")
            lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
