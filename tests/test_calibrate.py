import json

import cv2
import numpy as np

from edge.calibrate import load_settings
from tests.conftest import digitcam, read_jsonl


def test_calibration_reads_at_least_as_well_as_defaults(tmp_path, scene_dir, shipped_bundle):
    out = tmp_path / "camera.json"
    result = digitcam("calibrate", "--source", scene_dir, "--labels",
                      scene_dir / "labels.jsonl", "--model", shipped_bundle, "-o", out,
                      check=True)
    report = json.loads(result.stdout)
    settings = load_settings(out)
    assert settings.threshold in ("otsu", "percentile")
    tried = json.loads(out.read_text())["fit"]["tried"]
    assert len(tried) == 12
    default = next(t for t in tried if t["threshold"] == "otsu" and t["min_contrast"] == 28)
    assert report["score"] >= default["score"]
    # and `run` uses the file
    run = digitcam("run", "--source", scene_dir, "--model", shipped_bundle, "--calibration",
                   out, "--jsonl", check=True)
    assert len(run.stdout.splitlines()) == len(read_jsonl(scene_dir / "labels.jsonl"))


def test_region_of_interest_and_exposure_hint_from_a_fixed_camera(tmp_path, shipped_bundle):
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        frame = np.full((480, 640), 95, np.uint8)  # a dim picture
        cv2.putText(frame, "372", (380, 400), cv2.FONT_HERSHEY_SIMPLEX, 2.5, 25, 7)
        frame = np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(frames / f"f{i}.png"), frame)
    out = tmp_path / "camera.json"
    result = digitcam("calibrate", "--source", frames, "--model", shipped_bundle, "-o", out,
                      check=True)
    x, y, w, h = load_settings(out).roi
    assert x <= 380 and x + w >= 500 and y <= 340 and y + h >= 400
    assert w * h < 0.3 * 640 * 480
    assert "raise exposure" in json.loads(result.stdout)["exposure_hint"]


def test_a_broken_calibration_file_is_a_clear_error(tmp_path, scene_dir, shipped_bundle):
    bad = tmp_path / "cal.json"
    bad.write_text('{"locate": {"treshold": "otsu"}}')
    result = digitcam("run", "--source", scene_dir, "--model", shipped_bundle,
                      "--calibration", bad)
    assert result.returncode == 2
    assert "unknown calibration keys ['treshold']" in result.stderr
