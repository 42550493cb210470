"""Per-camera settings: fit them from a few frames (``digitcam calibrate``), save them as
JSON, and load them for ``digitcam run``."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from edge.locate import LocateSettings

logger = logging.getLogger(__name__)


def load_settings(path: str | Path | None) -> LocateSettings:
    if path is None:
        return LocateSettings()
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the calibration file ({exc})") from exc
    values = data.get("locate", data)
    known = {f.name for f in dataclasses.fields(LocateSettings)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{path}: unknown calibration keys {sorted(unknown)}")
    if values.get("roi") is not None:
        values["roi"] = tuple(int(v) for v in values["roi"])
    return LocateSettings(**values)


def save_settings(settings: LocateSettings, path: str | Path, extra: dict | None = None) -> None:
    data = {"locate": dataclasses.asdict(settings), **(extra or {})}
    Path(path).write_text(json.dumps(data, indent=2))
