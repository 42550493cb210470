"""Flashing a running device over a real mosquitto broker, from the desktop command."""

import json
import signal
import subprocess
import sys
import time

import pytest

from edge.flash import FlashPolicy, ModelStore, flash
from edge.signing import keygen
from tests.conftest import ROOT, digitcam
from tests.mqtt_helpers import MOSQUITTO, Broker, Recorder
from tests.test_flash import make_version

pytestmark = pytest.mark.skipif(not __import__("os").path.exists(MOSQUITTO),
                                reason="mosquitto is not installed (scripts/test.sh installs it)")


@pytest.fixture
def fleet(tmp_path, shipped_bundle):
    """A broker and two running devices, each with a store holding v1."""
    broker = Broker(tmp_path).start()
    public = keygen(tmp_path / "k.key", tmp_path / "k.pub")
    v1 = make_version(shipped_bundle, tmp_path / "v1", "v1", tmp_path / "k.key")
    devices = {}
    for name in ("cam1", "cam2"):
        store = ModelStore(tmp_path / name / "store")
        flash(v1, store, FlashPolicy(trusted_keys=[public]))
        config = tmp_path / name / "device.toml"
        config.write_text(
            f'device_id = "{name}"\n[model]\nstore = "{store.root}"\n'
            f'trusted_keys = ["{public}"]\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
            f'queue_dir = "{tmp_path / name / "queue"}"\n')
        process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--source",
             str(ROOT / "samples"), "--loop", "--fps", "10",
             "--jsonl-file", str(tmp_path / name / "run.jsonl")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        devices[name] = (process, store)
    recorder = Recorder(broker.port, "digitcam/+/availability")
    assert recorder.wait_for(lambda: len({t for t, p, _ in recorder.messages
                                          if p == b"online"}) == 2)
    recorder.close()
    yield broker, devices, tmp_path
    for process, _ in devices.values():
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    broker.stop()


def test_flash_every_device_under_the_prefix(fleet, shipped_bundle):
    broker, devices, tmp_path = fleet
    v2 = make_version(shipped_bundle, tmp_path / "v2", "v2", tmp_path / "k.key")
    result = digitcam("flash", v2, "--mqtt", f"127.0.0.1:{broker.port}", "--all-devices",
                      "--timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert set(summary) == {"cam1", "cam2"}
    assert all(s["state"] == "done" and s["version"] == "v2" for s in summary.values())
    time.sleep(2.5)  # the runners notice the new model between frames
    for name, (process, store) in devices.items():
        assert store.active_version() == "v2"
        rows = [json.loads(line) for line in (tmp_path / name / "run.jsonl")
                .read_text().splitlines()]
        assert rows[-1]["model"] == "v2"
        assert [r["frame"] for r in rows] == list(range(len(rows)))
        assert process.poll() is None


def test_remote_refusals_are_reported_and_the_device_keeps_its_model(fleet, shipped_bundle):
    broker, devices, tmp_path = fleet
    unsigned = make_version(shipped_bundle, tmp_path / "u", "u")
    result = digitcam("flash", unsigned, "--mqtt", f"127.0.0.1:{broker.port}", "--device",
                      "cam1", "--timeout", "60")
    assert result.returncode == 1
    outcome = json.loads(result.stdout)["cam1"]
    assert outcome["state"] == "refused" and "not signed" in outcome["error"]
    assert outcome["active"] == "v1"
    # a corrupted transfer: the checksum does not match
    recorder = Recorder(broker.port, "digitcam/cam2/#", client_id="t2")
    recorder.publish("digitcam/cam2/cmd/flash", json.dumps(
        {"transfer": "x1", "index": 0, "total": 1, "sha256": "00" * 32, "data": "aGVsbG8="}))
    recorder.publish("digitcam/cam2/cmd/flash", json.dumps({"transfer": "x2", "index": 0}))
    assert recorder.wait_for(lambda: len(recorder.payloads("digitcam/cam2/cmd/result")) >= 2)
    results = [json.loads(p) for p in recorder.payloads("digitcam/cam2/cmd/result")]
    assert "checksum mismatch" in results[0]["error"]
    assert "needs" in results[1]["error"] or "chunk" in results[1]["error"]
    recorder.close()
    for _, store in devices.values():
        assert store.active_version() == "v1"


def test_flash_by_path_on_the_device(fleet, shipped_bundle):
    from edge.flash import archive_bundle

    broker, devices, tmp_path = fleet
    v4 = make_version(shipped_bundle, tmp_path / "v4", "v4", tmp_path / "k.key")
    archive = archive_bundle(v4, tmp_path / "v4.tar.gz")
    recorder = Recorder(broker.port, "digitcam/cam1/flash/status", client_id="t4")
    recorder.publish("digitcam/cam1/cmd/flash", json.dumps({"path": str(archive), "id": "p1"}))
    done = lambda: [json.loads(p) for p in recorder.payloads(  # noqa: E731
        "digitcam/cam1/flash/status") if json.loads(p)["state"] in ("done", "refused")]
    assert recorder.wait_for(lambda: done(), timeout=60)
    assert done()[0]["state"] == "done" and done()[0]["version"] == "v4"
    states = [json.loads(p)["state"] for p in recorder.payloads("digitcam/cam1/flash/status")]
    assert states[:2] == ["staging", "verifying"]  # progress is reported along the way
    assert devices["cam1"][1].active_version() == "v4"
    recorder.close()
