"""Flashing over MQTT.

Device side (:class:`RemoteFlasher`): ``<prefix>/cmd/flash`` takes either
``{"path": "/srv/models/v2.tar.gz"}`` / ``{"url": "file:///..." | "https://..."}`` or the
bundle archive itself in chunks ``{"transfer": ID, "index": i, "total": n, "data": BASE64,
"sha256": HEX_OF_WHOLE_ARCHIVE}``. Progress and outcome go to ``<prefix>/flash/status``.
Flashing runs on its own thread; frames keep flowing and the runner swaps models between
two frames when the new one is active.

Desktop side (:func:`flash_remote`): ``digitcam flash BUNDLE --mqtt HOST --device ID`` (or
``--all-devices``) sends the archive in chunks and waits for every device's outcome.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from edge.flash import MAX_BUNDLE_BYTES, FlashError, FlashPolicy, ModelStore, archive_bundle, flash

logger = logging.getLogger(__name__)

CHUNK_BYTES = 192 * 1024  # raw bytes per chunk; base64 makes 256 KiB
MAX_CHUNK_B64 = 300 * 1024
TRANSFER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class RemoteFlasher:
    def __init__(self, store: ModelStore, policy: FlashPolicy, publish_status):
        self.store, self.policy, self.publish_status = store, policy, publish_status
        self._transfers: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._busy = threading.Lock()

    def handle(self, args: dict) -> str:
        """Validate a flash command; start the flash in the background when complete."""
        tag = str(args.get("transfer") or args.get("id") or "flash")
        if "data" in args:
            return self._chunk(args)
        if "path" in args:
            source = Path(str(args["path"]))
        elif "url" in args:
            source = None
        else:
            raise ValueError("flash needs 'path', 'url' or chunked 'data'")
        self._start(tag, source, args.get("url"))
        return "flash started"

    def _chunk(self, args: dict) -> str:
        transfer = str(args.get("transfer", ""))
        if not TRANSFER_ID.fullmatch(transfer):
            raise ValueError("chunk needs a 'transfer' id of letters, digits, '_' or '-'")
        try:
            index, total = int(args["index"]), int(args["total"])
            digest = str(args["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("chunk needs integer 'index', 'total' and a 'sha256'") from exc
        if not (0 <= index < total <= MAX_BUNDLE_BYTES // CHUNK_BYTES + 1):
            raise ValueError(f"chunk index {index} of {total} is out of range")
        data = args["data"]
        if not isinstance(data, str) or len(data) > MAX_CHUNK_B64:
            raise ValueError("chunk 'data' must be base64 text of at most 300 KiB")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"chunk data is not base64 ({exc})") from exc
        with self._lock:
            state = self._transfers.get(transfer)
            if state is None or index == 0:
                state = {"file": tempfile.NamedTemporaryFile(
                    prefix=f"digitcam-{transfer}-", suffix=".tar.gz", delete=False),
                    "next": 0, "total": total, "sha256": digest}
                self._transfers[transfer] = state
            if index != state["next"] or total != state["total"]:
                self._transfers.pop(transfer, None)
                raise ValueError(f"chunk {index} arrived, expected {state['next']}: transfer "
                                 f"{transfer} abandoned, send it again")
            state["file"].write(raw)
            state["next"] += 1
            if state["next"] < total:
                if index % 8 == 0:
                    self.publish_status({"transfer": transfer, "state": "receiving",
                                         "received": index + 1, "total": total})
                return f"chunk {index + 1}/{total}"
            self._transfers.pop(transfer)
        state["file"].close()
        path = Path(state["file"].name)
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != state["sha256"]:
            path.unlink(missing_ok=True)
            self.publish_status({"transfer": transfer, "state": "refused",
                                 "error": "checksum mismatch: the transfer was corrupted"})
            raise ValueError("checksum mismatch: the transfer was corrupted")
        self._start(transfer, path, None, cleanup=True)
        return "transfer complete, flash started"

    def _start(self, tag: str, source: Path | None, url: str | None,
               cleanup: bool = False) -> None:
        thread = threading.Thread(target=self._run, args=(tag, source, url, cleanup),
                                  name="remote-flash", daemon=True)
        thread.start()

    def _run(self, tag, source, url, cleanup) -> None:
        with self._busy:  # one flash at a time
            try:
                if url is not None:
                    source = self._fetch(url)
                    cleanup = True
                outcome = flash(source, self.store, self.policy, progress=lambda step, d="":
                                self.publish_status({"transfer": tag, "state": step}))
                self.publish_status({"transfer": tag, "state": "done", **outcome})
            except (FlashError, OSError, ValueError) as exc:
                logger.error("remote flash %s refused: %s", tag, exc)
                self.publish_status({"transfer": tag, "state": "refused", "error": str(exc),
                                     "active": self.store.active_version()})
            finally:
                if cleanup and source is not None:
                    Path(source).unlink(missing_ok=True)

    @staticmethod
    def _fetch(url: str) -> Path:
        if not url.startswith(("file://", "http://", "https://")):
            raise ValueError(f"unsupported URL scheme in {url!r}")
        target = Path(tempfile.mkstemp(prefix="digitcam-download-", suffix=".tar.gz")[1])
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            copied = 0
            while chunk := response.read(1 << 20):
                copied += len(chunk)
                if copied > MAX_BUNDLE_BYTES:
                    raise ValueError("download is over the bundle size limit")
                out.write(chunk)
        return target


def _chunks(archive: Path):
    data = archive.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    total = max(1, -(-len(data) // CHUNK_BYTES))
    for index in range(total):
        piece = data[index * CHUNK_BYTES:(index + 1) * CHUNK_BYTES]
        yield {"index": index, "total": total, "sha256": digest,
               "data": base64.b64encode(piece).decode()}


def flash_remote(bundle: Path, host: str, devices: list[str], all_devices: bool,
                 root: str = "digitcam", timeout: float = 120.0) -> int:
    """Send ``bundle`` to devices and wait for their outcomes; 0 when all activated it."""
    import paho.mqtt.client as mqtt

    from edge.outputs.mqtt import parse_host

    address, port = parse_host(host)
    online: set[str] = set()
    outcomes: dict[str, dict] = {}
    lock = threading.Lock()

    def on_message(client, userdata, message):
        parts = message.topic.split("/")
        with lock:
            if parts[-1] == "availability" and message.payload == b"online":
                online.add(parts[-2])
            elif parts[-2:] == ["flash", "status"]:
                status = json.loads(message.payload)
                if status.get("state") in ("done", "refused"):
                    outcomes[parts[-3]] = status
                else:
                    logger.info("%s: %s", parts[-3], status.get("state"))

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.connect(address, port)
    client.loop_start()
    try:
        if all_devices:
            client.subscribe(f"{root}/+/availability", qos=1)
            time.sleep(1.5)  # retained availability messages arrive
            with lock:
                devices = sorted(set(devices) | online)
        if not devices:
            logger.error("no device to flash: name one with --device, or none is online")
            return 2
        for device in devices:
            client.subscribe(f"{root}/{device}/flash/status", qos=1)
        time.sleep(0.3)
        with tempfile.TemporaryDirectory() as tmp:
            archive = bundle if bundle.is_file() else archive_bundle(bundle,
                                                                     Path(tmp) / "b.tar.gz")
            transfer = f"t{int(time.time())}"
            for device in devices:
                for chunk in _chunks(archive):
                    info = client.publish(f"{root}/{device}/cmd/flash",
                                          json.dumps({"transfer": transfer, **chunk}), qos=1)
                    info.wait_for_publish(timeout=30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if all(d in outcomes for d in devices):
                    break
            time.sleep(0.1)
        with lock:
            summary = {d: outcomes.get(d, {"state": "timeout"}) for d in devices}
        print(json.dumps(summary, indent=2))
        return 0 if all(s.get("state") == "done" for s in summary.values()) else 1
    finally:
        client.disconnect()
        client.loop_stop()

