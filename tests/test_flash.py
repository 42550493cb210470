"""Re-flashing with real files and real processes: signatures, hostile bundles, golden-set
validation, a full disk, SIGKILL at random points, rollback, hot swap during a run."""

import io
import json
import random
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from edge.bundle import open_bundle
from edge.classifier import Classifier
from edge.flash import FlashError, FlashPolicy, ModelStore, archive_bundle, flash
from edge.signing import keygen, sign_bundle
from tests.conftest import ROOT, digitcam


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    public = keygen(folder / "k.key", folder / "k.pub")
    return folder / "k.key", public


def make_version(src, dst, version, key=None, **manifest_changes):
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["version"] = version
    for path, value in manifest_changes.items():
        target = manifest
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    (dst / "manifest.json").write_text(json.dumps(manifest))
    if key is not None:
        sign_bundle(dst, key)
    return dst


@pytest.fixture
def store_with_v1(tmp_path, shipped_bundle, keys):
    key, public = keys
    v1 = make_version(shipped_bundle, tmp_path / "v1", "v1", key)
    store = ModelStore(tmp_path / "store")
    policy = FlashPolicy(trusted_keys=[public])
    flash(v1, store, policy)
    assert store.active_version() == "v1"
    return store, policy


def assert_serving(store, *allowed):
    active = store.active()
    assert active is not None and active.name in allowed
    bundle = open_bundle(active)
    with Classifier(bundle) as classifier:
        assert classifier.classify(__import__("numpy").zeros((2, 28, 28), "uint8")).shape == \
            (2, classifier.classes)


def test_signed_bundle_becomes_active_and_rolls_back(tmp_path, store_with_v1, shipped_bundle,
                                                     keys):
    store, policy = store_with_v1
    v2 = make_version(shipped_bundle, tmp_path / "v2", "v2", keys[0])
    outcome = flash(v2, store, policy)
    assert outcome["ok"] and outcome["previous"] == "v1" and store.active_version() == "v2"
    assert outcome["golden"]["digits"] == 300
    assert [r["version"] for r in store.list()] == ["v1", "v2"]
    assert store.rollback() == "v1"
    assert_serving(store, "v1")


@pytest.mark.parametrize("case, reason", [
    ("unsigned", "not signed"),
    ("other_key", "wrong signature"),
    ("tampered", "wrong signature"),
    ("truncated", "truncated"),
    ("bad_shape", "input tensor shape"),
    ("bad_preprocessing", "preprocessing polarity"),
    ("hostile_version", "not a safe name"),
])
def test_refusals_name_their_reason_and_keep_the_old_model(case, reason, tmp_path,
                                                           store_with_v1, shipped_bundle,
                                                           keys):
    store, policy = store_with_v1
    key = keys[0]
    if case == "other_key":
        key, _ = tmp_path / "o.key", keygen(tmp_path / "o.key", tmp_path / "o.pub")
    changes = {"bad_shape": {"input.shape": [-1, 32, 32, 1]},
               "bad_preprocessing": {"preprocessing.polarity": "ink_dark"}}.get(case, {})
    version = "../../evil" if case == "hostile_version" else "v2"
    bundle = make_version(shipped_bundle, tmp_path / "v2", version,
                          None if case == "unsigned" else key, **changes)
    if case == "tampered":  # changed after signing
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["accuracy"]["int8"] = 0.5
        (bundle / "manifest.json").write_text(json.dumps(manifest))
    if case == "truncated":
        data = (bundle / "model.tflite").read_bytes()
        (bundle / "model.tflite").write_bytes(data[: len(data) // 2])
    with pytest.raises(FlashError, match=reason):
        flash(bundle, store, policy)
    assert_serving(store, "v1")
    assert not list(store.root.glob(".staging-*"))


def test_a_model_that_loads_but_scores_badly_is_refused(tmp_path, store_with_v1,
                                                        quick_bundle, keys):
    store, policy = store_with_v1
    # The quick model (~90 %) dressed up with the accuracy of a good one.
    liar = make_version(quick_bundle, tmp_path / "liar", "liar", keys[0],
                        **{"accuracy.int8": 0.995})
    with pytest.raises(FlashError, match="golden set accuracy"):
        flash(liar, store, policy)
    assert_serving(store, "v1")


def test_hostile_archives_are_refused(tmp_path, store_with_v1, shipped_bundle):
    store, _ = store_with_v1
    policy = FlashPolicy(allow_unsigned=True)

    def archive(name, entries):
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for entry in entries:
                tar.addfile(*entry)
        return path

    def file_entry(name, data=b"x"):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        return info, io.BytesIO(data)

    link = tarfile.TarInfo("model.tflite")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    big = tarfile.TarInfo("model.tflite")
    big.size = 200 * 1024 * 1024
    cases = {
        "absolute.tar.gz": ([file_entry("/tmp/model.tflite")], "absolute path"),
        "dotdot.tar.gz": ([file_entry("../../model.tflite")], "'..'"),
        "link.tar.gz": ([(link,)], "links"),
        "extra.tar.gz": ([file_entry("run.sh")], "unexpected file"),
        "big.tar": (None, "size limit"),
    }
    for name, (entries, reason) in cases.items():
        if entries is None:
            path = tmp_path / name
            path.write_bytes(big.tobuf() + b"\0" * 1024)  # the header claims 200 MB
        else:
            path = archive(name, entries)
        with pytest.raises(FlashError, match=reason):
            flash(path, store, policy)
        assert store.active_version() == "v1"
    corrupt = tmp_path / "corrupt.tar.gz"
    good = archive_bundle(shipped_bundle, tmp_path / "good.tar.gz")
    corrupt.write_bytes(good.read_bytes()[:3000])  # a download cut short
    with pytest.raises(FlashError):
        flash(corrupt, store, policy)
    assert_serving(store, "v1")


def test_archive_of_a_signed_bundle_flashes(tmp_path, store_with_v1, shipped_bundle, keys):
    store, policy = store_with_v1
    v3 = make_version(shipped_bundle, tmp_path / "v3", "v3", keys[0])
    outcome = flash(archive_bundle(v3, tmp_path / "v3.tar.gz"), store, policy)
    assert outcome["version"] == "v3" and store.active_version() == "v3"


def flash_command(store, bundle, public, **popen):
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "flash", str(bundle),
                             "--store", str(store.root), "--trusted-key", public],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def test_full_disk_is_refused_and_the_old_model_serves(tmp_path, store_with_v1,
                                                       shipped_bundle, keys):
    store, _ = store_with_v1
    v2 = make_version(shipped_bundle, tmp_path / "v2", "v2", keys[0])

    def small_disk():  # writes past 100 kB fail, like a full SD card
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    process = flash_command(store, v2, keys[1], preexec_fn=small_disk)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "disk full" in json.loads(stdout)["error"]
    assert_serving(store, "v1")


def test_sigkill_at_random_points_leaves_one_complete_model(tmp_path, store_with_v1,
                                                            shipped_bundle, keys):
    store, _ = store_with_v1
    rng = random.Random(1234)
    for attempt in range(6):
        new = f"k{attempt}"
        bundle = make_version(shipped_bundle, tmp_path / new, new, keys[0])
        old = store.active_version()
        process = flash_command(store, bundle, keys[1])
        time.sleep(rng.uniform(0.05, 2.5))
        process.kill()
        process.wait(timeout=30)
        assert_serving(store, old, new)
    # the next flash cleans up whatever the killed ones left behind
    final = make_version(shipped_bundle, tmp_path / "final", "final", keys[0])
    process = flash_command(store, final, keys[1])
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 0 and json.loads(stdout)["version"] == "final"
    assert not list(store.root.glob(".staging-*")) and not list(store.root.glob(".current-*"))


def test_hot_swap_during_a_run_loses_no_frame(tmp_path, store_with_v1, shipped_bundle,
                                              keys, scene_dir):
    store, _ = store_with_v1
    jsonl = tmp_path / "run.jsonl"
    run = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--source", str(scene_dir),
                            "--loop", "--fps", "20", "--store", str(store.root),
                            "--jsonl-file", str(jsonl)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    v2 = make_version(shipped_bundle, tmp_path / "v2", "v2", keys[0])
    result = digitcam("flash", v2, "--store", store.root, "--trusted-key", keys[1])
    assert result.returncode == 0, result.stderr[-2000:]
    time.sleep(2.5)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 0
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(len(rows)))  # no frame dropped
    models = [r["model"] for r in rows]
    switch = models.index("v2")
    assert set(models[:switch]) == {"v1"} and set(models[switch:]) == {"v2"}
    assert "model reloaded: now v2" in stderr


def test_flash_command_line_list_and_rollback(tmp_path, store_with_v1, shipped_bundle, keys):
    store, _ = store_with_v1
    v2 = make_version(shipped_bundle, tmp_path / "v2", "v2", keys[0])
    assert digitcam("flash", v2, "--store", store.root, "--trusted-key", keys[1]).returncode == 0
    listing = json.loads(digitcam("flash", "--list", "--store", store.root, check=True).stdout)
    assert [(r["version"], r["active"]) for r in listing] == [("v1", False), ("v2", True)]
    rolled = json.loads(digitcam("flash", "--rollback", "--store", store.root,
                                 check=True).stdout)
    assert rolled["version"] == "v1" and store.active_version() == "v1"
    unsigned = make_version(shipped_bundle, tmp_path / "u", "u")
    refused = digitcam("flash", unsigned, "--store", store.root, "--trusted-key", keys[1])
    assert refused.returncode == 1 and "not signed" in refused.stderr
