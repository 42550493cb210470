"""Shared fixtures: the real MNIST files, one quick training run and its int8 bundle
(built once per session, on the real TensorFlow converter), generated scenes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "digitcam-int8"
HARDWARE = os.environ.get("DIGITCAM_HARDWARE") == "1"


def pytest_collection_modifyitems(config, items):
    if HARDWARE:
        return
    skip = pytest.mark.skip(reason="needs real hardware; set DIGITCAM_HARDWARE=1 on a Pi")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    from edge.mnist import find_data_dir

    return find_data_dir()


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, mnist_dir) -> Path:
    """A --quick training run (real Keras training, about a minute)."""
    from train.run import quick_config, train

    run_dir = tmp_path_factory.mktemp("quick") / "run"
    train(quick_config(run_dir, data_dir=mnist_dir))
    return run_dir


@pytest.fixture(scope="session")
def quick_bundle(quick_run, tmp_path_factory) -> Path:
    """The quick run converted to an int8 bundle (real TFLite conversion)."""
    from convert.build import convert_run

    out = tmp_path_factory.mktemp("bundle") / "quick-int8"
    # The quick model is weak (about 90 %), so many digits sit near a decision boundary:
    # the parity gate is relaxed here; tests of the gate itself use the real thresholds.
    convert_run(quick_run, out, representative_size=200, variants=("member0-int8",),
                test_limit=1000,
                measure_latency=False, max_accuracy_drop=0.02, min_agreement=0.95)
    return out


@pytest.fixture
def bundle_copy(tmp_path, quick_bundle) -> Path:
    """A private copy of the quick bundle that a test may damage."""
    target = tmp_path / "bundle"
    shutil.copytree(quick_bundle, target)
    return target


@pytest.fixture(scope="session")
def shipped_bundle() -> Path:
    if not (SHIPPED / "manifest.json").exists():
        pytest.fail(f"the shipped model is missing: {SHIPPED}")
    return SHIPPED


@pytest.fixture(scope="session")
def scene_dir(tmp_path_factory, mnist_dir) -> Path:
    from edge.scenes import write_scenes

    out = tmp_path_factory.mktemp("scenes")
    write_scenes(out, 12, "mnist", seed=123, data_dir=mnist_dir)
    write_scenes(out, 12, "script", seed=456)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def digitcam(*args, check=False, timeout=300, env=None, **kwargs) -> subprocess.CompletedProcess:
    """Run the real ``digitcam`` command line in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([sys.executable, "-m", "edge.cli", *map(str, args)],
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                            env=full_env, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"digitcam {args} failed:\n{result.stderr[-3000:]}")
    return result


def blank_frame(width=640, height=480, value=225) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)
