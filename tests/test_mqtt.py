"""MQTT with a real mosquitto broker started by the tests."""

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.mqtt_helpers import MOSQUITTO, Broker, Recorder, dedupe, stable_readings

pytestmark = pytest.mark.skipif(not __import__("os").path.exists(MOSQUITTO),
                                reason="mosquitto is not installed (scripts/test.sh installs it)")


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def frames(tmp_path_factory, mnist_dir):
    from edge.scenes import write_scenes

    out = tmp_path_factory.mktemp("mqtt-frames")
    write_scenes(out, 30, "mnist", seed=77, data_dir=mnist_dir)
    return out


def start_device(tmp_path, port, source, *extra, device_id="dev1", queue="queue"):
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "{device_id}"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
                      f'queue_dir = "{tmp_path / queue}"\n[output]\nstable_frames = 1\n'
                      'status_interval = 1.0\n')
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--source",
         str(source), "--min-confidence", "0", *map(str, extra)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_broker_restart_loses_no_reading(tmp_path, broker, frames, shipped_bundle):
    recorder = Recorder(broker.port, "digitcam/dev1/reading")
    jsonl = tmp_path / "frames.jsonl"
    device = start_device(tmp_path, broker.port, frames, "--fps", "5", "--jsonl-file", jsonl,
                          "--model", shipped_bundle)
    time.sleep(1.5)
    broker.stop()  # the broker goes away in the middle of the run …
    time.sleep(2.0)
    broker.start()  # … and comes back
    _, stderr = device.communicate(timeout=60)
    assert device.returncode == 0, stderr[-2000:]
    expected = stable_readings(jsonl)
    assert len(expected) >= 20
    assert "disconnected" in stderr  # the outage really happened during the run
    got = lambda: dedupe([json.loads(p)["reading"] for p in  # noqa: E731
                          recorder.payloads("digitcam/dev1/reading")])
    assert recorder.wait_for(lambda: len(got()) >= len(expected)), (got(), expected,
                                                                    stderr[-3000:])
    assert got() == expected  # every reading, in order
    recorder.close()


def test_queue_survives_a_device_restart(tmp_path, frames, shipped_bundle):
    broker = Broker(tmp_path)  # not started: the broker is unreachable at first
    jsonl = tmp_path / "first.jsonl"
    first = start_device(tmp_path, broker.port, frames / "mnist_000*.jpg", "--jsonl-file",
                         jsonl, "--model", shipped_bundle)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr[-2000:]
    expected = stable_readings(jsonl)
    assert len(list((tmp_path / "queue").glob("*.msg"))) == len(expected) > 0
    broker.start()
    try:
        recorder = Recorder(broker.port, "digitcam/dev1/reading")
        empty = tmp_path / "empty.png"
        import cv2
        import numpy as np

        cv2.imwrite(str(empty), np.full((480, 640, 3), 230, np.uint8))
        second = start_device(tmp_path, broker.port, empty, "--model", shipped_bundle)
        second.communicate(timeout=60)
        got = lambda: dedupe([json.loads(p)["reading"] for p in  # noqa: E731
                              recorder.payloads("digitcam/dev1/reading")])
        assert recorder.wait_for(lambda: len(got()) >= len(expected))
        assert got() == expected
        assert list((tmp_path / "queue").glob("*.msg")) == []
        recorder.close()
    finally:
        broker.stop()


def test_commands_are_validated_and_never_crash_the_loop(tmp_path, broker, frames,
                                                         shipped_bundle):
    recorder = Recorder(broker.port, "digitcam/dev1/#")
    device = start_device(tmp_path, broker.port, frames, "--loop", "--fps", "10",
                          "--model", shipped_bundle)
    try:
        assert recorder.wait_for(lambda: recorder.payloads("digitcam/dev1/availability")
                                 == [b"online"] or b"online" in
                                 recorder.payloads("digitcam/dev1/availability"))
        time.sleep(0.5)
        recorder.publish("digitcam/dev1/cmd/selfdestruct", b"{}")
        recorder.publish("digitcam/dev1/cmd/status", b"{not json")
        recorder.publish("digitcam/dev1/cmd/status", b"[1, 2]")
        recorder.publish("digitcam/dev1/cmd/capture", json.dumps({"id": 1, "evil": True}))
        recorder.publish("digitcam/dev1/cmd/status", b"x" * 10_000)
        recorder.publish("digitcam/dev1/cmd/capture", json.dumps({"id": "c1"}))
        results = lambda: [json.loads(p) for p in  # noqa: E731
                           recorder.payloads("digitcam/dev1/cmd/result")]
        assert recorder.wait_for(lambda: len(results()) >= 6)
        errors = results()[:5]
        assert [r["ok"] for r in errors] == [False] * 5
        assert "unknown command 'selfdestruct'" in errors[0]["error"]
        assert "not JSON" in errors[1]["error"]
        assert "JSON object" in errors[2]["error"]
        assert "unknown fields ['evil']" in errors[3]["error"]
        assert "over 4096" in errors[4]["error"]
        assert results()[5] == {"command": "capture", "ok": True, "id": "c1",
                                "detail": "the next frame will be published on capture"}
        assert recorder.wait_for(lambda: recorder.payloads("digitcam/dev1/capture"))
        assert recorder.wait_for(lambda: recorder.payloads("digitcam/dev1/status")), \
            [t for t, _, _ in recorder.messages][-20:]
        status = json.loads(recorder.payloads("digitcam/dev1/status")[-1])
        for key in ("fps", "latency_ms_p50", "latency_ms_p95", "frames_failed", "model",
                    "queue_depth", "queue_dropped", "uptime_s"):
            assert key in status
        assert device.poll() is None  # still running
    finally:
        device.send_signal(signal.SIGTERM)
        device.communicate(timeout=30)
        recorder.close()


def test_sigterm_publishes_offline_and_discovery_is_resent(tmp_path, broker, frames,
                                                         shipped_bundle):
    recorder = Recorder(broker.port, "#")
    device = start_device(tmp_path, broker.port, frames, "--loop", "--fps", "10",
                          "--model", shipped_bundle)
    config_topic = "homeassistant/sensor/dev1/reading/config"
    assert recorder.wait_for(lambda: recorder.payloads(config_topic))
    config = json.loads(recorder.payloads(config_topic)[0])
    assert config["state_topic"] == "digitcam/dev1/reading"
    assert config["availability_topic"] == "digitcam/dev1/availability"
    assert len({t for t, _, _ in recorder.messages if t.startswith("homeassistant/sensor/dev1/")
                }) == 4
    before = len(recorder.payloads(config_topic))
    recorder.publish("homeassistant/status", b"online")  # Home Assistant restarted
    assert recorder.wait_for(lambda: len(recorder.payloads(config_topic)) > before)
    device.send_signal(signal.SIGTERM)
    _, stderr = device.communicate(timeout=30)
    assert device.returncode == 0, stderr[-2000:]
    assert recorder.wait_for(lambda: recorder.payloads("digitcam/dev1/availability")[-1:]
                             == [b"offline"])
    recorder.close()
    # retained: a late subscriber sees the device offline
    late = Recorder(broker.port, "digitcam/dev1/availability", client_id="late")
    assert late.wait_for(lambda: late.payloads("digitcam/dev1/availability") == [b"offline"])
    late.close()


def test_full_queue_drops_the_oldest_and_counts(tmp_path):
    from edge.outputs.queue import DiskQueue

    queue = DiskQueue(tmp_path / "q", max_messages=3)
    for i in range(5):
        queue.put({"n": i})
    assert len(queue) == 3 and queue.dropped == 2
    reopened = DiskQueue(tmp_path / "q", max_messages=3)  # after a restart
    assert reopened.dropped == 2
    name, message = reopened.peek()
    assert message == {"n": 2}
    reopened.ack(name)
    assert reopened.peek()[1] == {"n": 3}
