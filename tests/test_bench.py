import json
import shutil

import pytest

from tests.conftest import digitcam

KEYS = {"model", "mnist_accuracy", "manifest_accuracy", "latency_ms", "pipeline_fps",
        "stage_ms", "peak_rss_mb", "runtime", "machine", "accuracy_check",
        "latency_ms_by_threads", "model_load_ms"}


@pytest.fixture(scope="module")
def bench_result(shipped_bundle):
    result = digitcam("bench", "--model", shipped_bundle, "--limit", "400", "--repeats", "20",
                      "--threads", "1,2", "--json", "--no-baselines", "--strict", check=True)
    return json.loads(result.stdout)


def test_bench_reports_what_a_deployer_needs(bench_result, shipped_bundle):
    assert set(bench_result) >= KEYS
    manifest = json.loads((shipped_bundle / "manifest.json").read_text())
    assert bench_result["model"] == manifest["version"]
    assert bench_result["manifest_accuracy"] == manifest["accuracy"]["int8"]
    for key in ("p50", "p95", "p99"):
        assert bench_result["latency_ms"][key] > 0
    assert bench_result["latency_ms"]["p50"] <= bench_result["latency_ms"]["p99"]
    assert set(bench_result["latency_ms_by_threads"]) == {"1", "2"}
    assert set(bench_result["stage_ms"]) == {"locate", "preprocess", "infer", "total"}
    assert bench_result["pipeline_fps"] > 0
    assert bench_result["runtime"].startswith(("ai_edge_litert", "tflite_runtime",
                                               "tensorflow"))


def test_accuracy_matches_the_manifest_within_sampling_error(bench_result):
    check = bench_result["accuracy_check"]
    assert check["ok"]
    assert abs(bench_result["mnist_accuracy"] - bench_result["manifest_accuracy"]) \
        <= check["tolerance"]
    assert check["tolerance"] < 0.02  # the check has teeth at 400 images


def test_a_wrong_accuracy_claim_is_reported_loudly(tmp_path, shipped_bundle):
    bundle = tmp_path / "bundle"
    shutil.copytree(shipped_bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["accuracy"]["int8"] = 0.80  # as if the device ran a different model
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = digitcam("bench", "--model", bundle, "--limit", "300", "--repeats", "5",
                      "--threads", "1", "--no-baselines", "--strict", "--samples",
                      tmp_path / "none")
    assert result.returncode == 1
    assert "broken install, wrong runtime or corrupt model" in result.stderr
    assert "MISMATCH" in result.stdout


def test_a_corrupted_bundle_is_caught(tmp_path, shipped_bundle):
    bundle = tmp_path / "bundle"
    shutil.copytree(shipped_bundle, bundle)
    data = bytearray((bundle / "model.tflite").read_bytes())
    data[1000] ^= 0x55
    (bundle / "model.tflite").write_bytes(bytes(data))
    result = digitcam("bench", "--model", bundle, "--limit", "100", "--json")
    assert result.returncode == 2
    assert "sha256" in result.stderr and "Traceback" not in result.stderr


def test_bench_result_is_published_on_mqtt(tmp_path, shipped_bundle):
    from pathlib import Path

    from tests.mqtt_helpers import MOSQUITTO, Broker, Recorder

    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (scripts/test.sh installs it)")
    broker = Broker(tmp_path).start()
    try:
        recorder = Recorder(broker.port, "digitcam/benchbox/bench")
        result = digitcam("bench", "--model", shipped_bundle, "--limit", "100", "--repeats",
                          "5", "--threads", "1", "--no-baselines", "--json", "--mqtt",
                          f"127.0.0.1:{broker.port}", "--device-id", "benchbox", check=True)
        assert recorder.wait_for(lambda: recorder.payloads("digitcam/benchbox/bench"))
        published = json.loads(recorder.payloads("digitcam/benchbox/bench")[0])
        assert published["mnist_accuracy"] == json.loads(result.stdout)["mnist_accuracy"]
        recorder.close()
    finally:
        broker.stop()


def test_live_source_throughput(tmp_path, shipped_bundle):
    """--source measures a live feed for --seconds; a looping video file stands in here."""
    import cv2
    import numpy as np

    video = tmp_path / "feed.avi"
    frame = cv2.imread(str(shipped_bundle.parent.parent / "samples" / "mnist_0000.jpg"))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             (frame.shape[1], frame.shape[0]))
    for _ in range(5):
        writer.write(frame)
    writer.release()
    assert np.asarray(frame).size
    result = json.loads(digitcam("bench", "--model", shipped_bundle, "--limit", "100",
                                 "--repeats", "5", "--threads", "1", "--no-baselines",
                                 "--samples", tmp_path / "none", "--source", video,
                                 "--seconds", "1", "--json", check=True).stdout)
    live = result["live"]
    assert live["frames"] >= 1 and live["fps"] > 0 and live["total_ms_p50"] > 0
