"""``digitcam run`` end to end, as a user runs it: real files, real interpreter, real
subprocesses."""

import json
import shutil
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, blank_frame, digitcam, read_jsonl

KEYS = {"frame", "source", "time", "digits", "numbers", "reading", "rejected", "model",
        "latency_ms"}
STAGES = {"capture", "locate", "preprocess", "infer", "total"}


def test_jsonl_contract_on_scenes(scene_dir, shipped_bundle):
    result = digitcam("run", "--source", scene_dir, "--model", shipped_bundle, "--jsonl",
                      check=True)
    lines = result.stdout.splitlines()
    rows = [json.loads(line) for line in lines]  # stdout holds JSON and nothing else
    files = sorted(p for p in scene_dir.iterdir() if p.suffix == ".jpg")
    assert [r["frame"] for r in rows] == list(range(len(files)))
    assert [r["source"] for r in rows] == [str(p) for p in files]
    version = json.loads((shipped_bundle / "manifest.json").read_text())["version"]
    for row in rows:
        assert set(row) == KEYS
        assert set(row["latency_ms"]) == STAGES
        assert row["model"] == version
        assert row["reading"] == "".join(str(d["digit"]) for d in row["digits"])
        assert "".join(row["numbers"]) == row["reading"]  # the numbers make the reading
        for digit in row["digits"]:
            assert digit["digit"] == "?" or digit["digit"] in range(10)
            assert 0.0 <= digit["confidence"] <= 1.0
            assert len(digit["box"]) == 4 and all(isinstance(v, int) for v in digit["box"])
    assert "INFO" not in result.stdout


def test_reads_the_right_numbers(scene_dir, shipped_bundle, tmp_path):
    out = tmp_path / "run.jsonl"
    digitcam("run", "--source", scene_dir, "--model", shipped_bundle, "--jsonl-file", out,
             check=True)
    report = json.loads(digitcam("evaluate", out, scene_dir / "labels.jsonl",
                                 check=True).stdout)
    assert report["frames"] == 24
    assert report["detection_recall"] >= 0.95
    assert report["digit_accuracy"] >= 0.9


def test_corrupt_image_is_logged_and_the_loop_goes_on(tmp_path, scene_dir, shipped_bundle):
    frames = sorted(scene_dir.glob("mnist_000*.jpg"))[:3]
    for path in frames:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "mnist_0001b.jpg").write_bytes(frames[1].read_bytes()[:2000])  # truncated
    (tmp_path / "mnist_0001c.jpg").write_bytes(b"this is not an image")
    result = digitcam("run", "--source", tmp_path, "--model", shipped_bundle, "--jsonl",
                      check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    sources = [r["source"] for r in rows]
    assert str(tmp_path / "mnist_0001c.jpg") not in sources
    assert str(tmp_path / frames[2].name) in sources  # frames after the bad ones still come
    assert "mnist_0001c.jpg: cannot read this image" in result.stderr


def test_empty_frame_gives_an_empty_list(tmp_path, shipped_bundle):
    cv2.imwrite(str(tmp_path / "empty.png"), blank_frame())
    result = digitcam("run", "--source", tmp_path / "empty.png", "--model", shipped_bundle,
                      "--jsonl", check=True)
    row = json.loads(result.stdout)
    assert row["digits"] == [] and row["reading"] == ""


def test_missing_source_is_one_clear_error(tmp_path, shipped_bundle):
    result = digitcam("run", "--source", tmp_path / "nothing-here", "--model", shipped_bundle)
    assert result.returncode == 2
    assert "no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_is_one_clear_error(scene_dir, tmp_path):
    result = digitcam("run", "--source", scene_dir, "--model", tmp_path / "no-model")
    assert result.returncode == 2
    assert "not a bundle directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_annotated_frames_are_written(tmp_path, scene_dir, shipped_bundle):
    out = tmp_path / "annotated"
    digitcam("run", "--source", scene_dir / "mnist_0000.jpg", "--model", shipped_bundle,
             "--save-annotated", out, check=True)
    written = list(out.glob("*.jpg"))
    assert len(written) == 1
    original = cv2.imread(str(scene_dir / "mnist_0000.jpg"))
    annotated = cv2.imread(str(written[0]))
    assert annotated.shape == original.shape
    assert np.abs(annotated.astype(int) - original).sum() > 0  # boxes and labels drawn


def test_frames_nobody_sees_are_decoded_to_luma_with_the_same_readings(tmp_path, scene_dir,
                                                                       shipped_bundle):
    from edge.sources import open_source

    with open_source(str(scene_dir / "mnist_0000.jpg"), colour=False) as source:
        (frame,) = list(source.frames())
    assert frame.image.ndim == 2  # JPEG's own luma: no colour conversion anywhere
    with open_source(str(scene_dir / "mnist_0000.jpg")) as source:
        (frame,) = list(source.frames())
    assert frame.image.shape[2] == 3
    # Saving annotated frames needs colour; the readings must not depend on it.
    plain = tmp_path / "plain.jsonl"
    annotated = tmp_path / "annotated.jsonl"
    digitcam("run", "--source", scene_dir, "--model", shipped_bundle, "--jsonl-file", plain,
             check=True)
    digitcam("run", "--source", scene_dir, "--model", shipped_bundle, "--jsonl-file",
             annotated, "--save-annotated", tmp_path / "frames", check=True)
    readings = [[r["reading"] for r in read_jsonl(path)] for path in (plain, annotated)]
    assert len(readings[0]) == 24
    assert readings[0] == readings[1]
    assert len(list((tmp_path / "frames").glob("*.jpg"))) == 24


def test_no_tensorflow_on_the_device_path(scene_dir, shipped_bundle):
    code = (
        "import sys\n"
        "from edge.cli import main\n"
        f"main(['run', '--source', r'{scene_dir}', '--model', r'{shipped_bundle}',"
        " '--max-frames', '3'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print('IMPORTED', bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert "IMPORTED []" in result.stdout, result.stdout + result.stderr[-2000:]


def test_interpreter_is_created_once(scene_dir, shipped_bundle):
    from edge.app import Runner
    from edge.classifier import Classifier
    from edge.outputs.base import NullOutput
    from edge.pipeline import Pipeline
    from edge.runtime import Runtime, find_runtime
    from edge.sources import open_source

    real = find_runtime()
    created = []

    def counting(*args, **kwargs):
        created.append(1)
        return real.interpreter_class(*args, **kwargs)

    classifier = Classifier(shipped_bundle, runtime=Runtime(real.name, real.version, counting))
    with classifier:
        runner = Runner(open_source(str(scene_dir)), Pipeline(classifier), [NullOutput()])
        runner.run()
    assert runner.stats.frames == 24
    assert len(created) == 1


def test_fps_paces_file_sources(scene_dir):
    from edge.sources import open_source

    source = open_source(str(scene_dir / "mnist_000*.jpg"), fps=20)
    with source:
        started = time.monotonic()
        frames = list(source.frames())
    assert len(frames) == 10
    assert time.monotonic() - started >= 9 / 20 * 0.9


def test_loop_repeats_until_stopped(scene_dir):
    from edge.sources import open_source

    source = open_source(str(scene_dir / "mnist_0000.jpg"), loop=True)
    seen = []
    with source:
        for frame in source.frames():
            seen.append(frame.index)
            if len(seen) == 5:
                source.stop()
    assert seen == [0, 1, 2, 3, 4]


def test_camera_that_disappears_is_reconnected(tmp_path):
    """A live OpenCV source whose device goes away and comes back: no crash, frames resume."""
    from edge.sources.opencv import VideoCapture

    device = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(device), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    hidden = tmp_path / "away.avi"
    source = VideoCapture(str(device), live=True, backoff_initial=0.05, backoff_max=0.2)
    frames = []

    def unplug_and_replug():
        device.rename(hidden)
        time.sleep(0.6)
        hidden.rename(device)

    with source:
        for frame in source.frames():
            frames.append(frame)
            if len(frames) == 5:  # end of the "stream": pull the camera out
                threading.Thread(target=unplug_and_replug).start()
            if len(frames) == 8:
                source.stop()
    assert source.reconnects >= 1
    assert len(frames) == 8


def test_picamera2_source_uses_the_luma_plane(monkeypatch):
    """picamera2 cannot exist here: a fake stands in at the library boundary only."""
    import types

    calls = []

    class FakePicamera2:
        def __init__(self, num):
            calls.append(("init", num))

        def create_video_configuration(self, main, lores):
            return {"main": main, "lores": lores}

        def configure(self, config):
            calls.append(("configure", config["lores"]["format"]))

        def start(self):
            calls.append(("start",))

        def capture_array(self, stream):
            calls.append(("capture", stream))
            yuv = np.zeros((480 * 3 // 2, 640), np.uint8)
            yuv[:480] = 200  # Y plane
            yuv[480:] = 17  # chroma, must not leak into the frame
            return yuv

        def stop(self):
            calls.append(("stop",))

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    from edge.sources import open_source

    source = open_source("picam:1")
    with source:
        frame = next(iter(source.frames()))
    assert frame.image.shape == (480, 640) and frame.image.max() == 200
    assert frame.source == "picam:1"
    assert ("init", 1) in calls and ("configure", "YUV420") in calls
    assert ("capture", "lores") in calls and calls[-1] == ("close",)


def test_missing_picamera2_tells_how_to_install(monkeypatch):
    from edge.sources import SourceError, open_source

    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        open_source("picamera2").open()


@pytest.mark.hardware
def test_real_pi_camera_delivers_frames():
    from edge.sources import open_source

    source = open_source("picamera2")
    with source:
        frame = next(iter(source.frames()))
    assert frame.image.ndim == 2 and frame.image.shape[0] >= 240


def test_evaluate_scores_a_known_run(tmp_path):
    labels = [{"source": "a.jpg", "digits": [1, 2], "boxes": [[0, 0, 10, 20], [20, 0, 10, 20]],
               "reading": "12"},
              {"source": "b.jpg", "digits": [3], "boxes": [[0, 0, 10, 20]], "reading": "3"}]
    results = [{"source": "x/a.jpg", "reading": "17",
                "digits": [{"digit": 1, "box": [1, 0, 10, 20]},
                           {"digit": 7, "box": [20, 1, 10, 19]}]},
               {"source": "b.jpg", "reading": "3",
                "digits": [{"digit": 3, "box": [0, 0, 10, 20]},
                           {"digit": 5, "box": [200, 0, 10, 20]}]}]
    (tmp_path / "l.jsonl").write_text("\n".join(json.dumps(x) for x in labels))
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(x) for x in results))
    report = json.loads(digitcam("evaluate", tmp_path / "r.jsonl", tmp_path / "l.jsonl",
                                 check=True).stdout)
    assert report["detection_recall"] == 1.0
    assert report["detection_precision"] == 0.75
    assert report["digit_accuracy"] == pytest.approx(2 / 3)
    assert report["exact_reading_rate"] == 0.5


def test_shipped_samples_have_labels_for_every_frame():
    labels = read_jsonl(ROOT / "samples" / "labels.jsonl")
    frames = sorted(p.name for p in (ROOT / "samples").glob("*.jpg"))
    assert sorted(label["file"] for label in labels) == frames
    assert 1 <= len(frames) <= 40
    assert sum(p.stat().st_size for p in (ROOT / "samples").iterdir()) <= 3 * 1024 * 1024


def test_a_model_that_fails_to_load_keeps_the_old_one_serving(scene_dir, shipped_bundle):
    from edge.app import Runner
    from edge.bundle import BundleError
    from edge.classifier import Classifier
    from edge.outputs.base import Output
    from edge.pipeline import Pipeline
    from edge.sources import open_source

    class Collect(Output):
        def __init__(self):
            self.rows = []

        def publish(self, result):
            self.rows.append(result)
            if len(self.rows) == 3:
                runner.request_reload()

    def broken_loader():
        raise BundleError("model.tflite: sha256 does not match")

    collect = Collect()
    with Classifier(shipped_bundle) as classifier:
        runner = Runner(open_source(str(scene_dir)), Pipeline(classifier), [collect],
                        load_classifier=broken_loader)
        runner.run()
    assert len(collect.rows) == 24  # every frame still processed
    assert {r["model"] for r in collect.rows} == {classifier.version}
    assert runner.reload_errors and "sha256" in runner.reload_errors[0]
