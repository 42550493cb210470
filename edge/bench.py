"""On-device benchmark: is the installed model as accurate here as on the desktop, and
how fast is it? Accuracy on MNIST against the manifest, per-digit and per-batch latency at
1..N threads, load time, peak memory, whole-pipeline throughput on sample frames (and a
live camera), and the baselines that are available (float32 TFLite, one member, Keras).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge import mnist
from edge.bundle import DIGIT_CLASSES, open_bundle
from edge.classifier import Classifier
from edge.runtime import find_runtime

logger = logging.getLogger(__name__)


def progress(total: int, description: str):
    """A tqdm bar on a terminal when tqdm is installed, else a silent counter."""
    if sys.stderr.isatty() and importlib.util.find_spec("tqdm"):
        from tqdm import tqdm

        return tqdm(total=total, desc=description, unit="img", leave=False)

    class Quiet:
        def update(self, n):
            pass

        def close(self):
            pass

    return Quiet()


def percentiles(samples_s: list[float]) -> dict:
    ms = np.array(samples_s) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 4),
            "p95": round(float(np.percentile(ms, 95)), 4),
            "p99": round(float(np.percentile(ms, 99)), 4)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def machine() -> dict:
    info = {"system": platform.system(), "machine": platform.machine(),
            "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["board"] = Path("/proc/device-tree/model").read_text().strip("\x00\n")
    except OSError:
        pass
    return info


def test_subset(data_dir, limit: int | None, seed: int = 0):
    test = mnist.load_split("test", data_dir)
    if limit is None or limit >= len(test.labels):
        return test.images, test.labels
    index = np.sort(np.random.default_rng(seed).choice(len(test.labels), limit, replace=False))
    return test.images[index], test.labels[index]


def accuracy_check(measured: float, recorded: float, n: int) -> dict:
    """Compare with the manifest. On the full test set the same model must score the same
    (a few digits of slack for a different kernel library); on a random subset, allow
    three standard errors of sampling."""
    if n >= 10_000:
        tolerance = 0.0005
    else:
        tolerance = 3 * math.sqrt(max(recorded * (1 - recorded), 1e-4) / n) + 1 / n
    return {"difference": round(measured - recorded, 6), "tolerance": round(tolerance, 6),
            "ok": abs(measured - recorded) <= tolerance}


def tflite_probabilities(path: Path, images, threads: int = 2,
                         batch_size: int = 500) -> np.ndarray:
    """Float probabilities of a .tflite model (any variant) for uint8 images."""
    interpreter = find_runtime().interpreter_class(model_path=str(path), num_threads=threads)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    scale, zero = out["quantization"]
    result = np.empty((len(images), int(out["shape"][-1])), np.float32)
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size][..., None]
        interpreter.resize_tensor_input(inp["index"], list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], batch.astype(inp["dtype"]))
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"]).astype(np.float32)
        result[start:start + batch_size] = (raw - zero) * scale if scale else raw
    return result


def tflite_accuracy(path: Path, images, labels, threads: int = 2) -> float:
    return float((tflite_probabilities(path, images, threads).argmax(1) == labels).mean())


def latency(path: Path, batch: int, threads: int, repeats: int) -> dict:
    interpreter = find_runtime().interpreter_class(model_path=str(path), num_threads=threads)
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], [batch, 28, 28, 1])
    interpreter.allocate_tensors()
    data = np.random.default_rng(0).integers(0, 255, (batch, 28, 28, 1)).astype(inp["dtype"])
    times = []
    for i in range(repeats + 10):
        interpreter.set_tensor(inp["index"], data)
        started = time.perf_counter()
        interpreter.invoke()
        if i >= 10:
            times.append(time.perf_counter() - started)
    return percentiles(times)


def pipeline_throughput(classifier: Classifier, sample_dir: Path, repeats: int = 5) -> dict:
    """Frames per second and per-stage latency on decoded sample frames (decode excluded,
    measured separately), single process, the classifier's thread count."""
    from edge.pipeline import Frame, Pipeline
    from edge.sources.files import list_images

    files = list_images(str(sample_dir))
    decode_times, frames = [], []
    for path in files:
        started = time.perf_counter()
        image = cv2.imread(str(path))
        decode_times.append(time.perf_counter() - started)
        if image is not None:
            frames.append(Frame(image, str(path), len(frames), time.time()))
    pipeline = Pipeline(classifier)
    stages: dict[str, list[float]] = {"locate": [], "preprocess": [], "infer": [], "total": []}
    started = time.perf_counter()
    count = 0
    for _ in range(repeats):
        for frame in frames:
            result = pipeline.process(frame)
            for key in stages:
                stages[key].append(result["latency_ms"][key])
            count += 1
    elapsed = time.perf_counter() - started
    return {"frames": len(frames), "fps": round(count / elapsed, 1),
            "decode_ms_p50": round(float(np.median(decode_times)) * 1000, 3),
            "stage_ms": {k: round(float(np.median(v)), 3) for k, v in stages.items()},
            "total_ms_p95": round(float(np.percentile(stages["total"], 95)), 3)}


def live_throughput(classifier: Classifier, spec: str, seconds: float) -> dict:
    from edge.pipeline import Pipeline
    from edge.sources import open_source

    pipeline = Pipeline(classifier)
    source = open_source(spec)
    captures, totals = [], []
    with source:
        started = time.monotonic()
        for frame in source.frames():
            result = pipeline.process(frame)
            captures.append(frame.capture_ms)
            totals.append(result["latency_ms"]["total"])
            if time.monotonic() - started >= seconds:
                break
    elapsed = time.monotonic() - started
    return {"source": spec, "frames": len(totals), "fps": round(len(totals) / elapsed, 1),
            "capture_ms_p50": round(float(np.median(captures)), 3),
            "total_ms_p50": round(float(np.median(totals)), 3)}


def keras_baseline(models_dir: Path, images, labels,
                   weights: list[float] | None = None) -> dict | None:
    if importlib.util.find_spec("tensorflow") is None:
        return None
    keras_files = sorted(models_dir.glob("keras/*.keras"))
    if not keras_files:
        return None
    # Optional baseline: TensorFlow is loaded only here, and only when it is installed.
    keras = importlib.import_module("keras")
    models = [keras.models.load_model(p) for p in keras_files]
    x = images.astype(np.float32)[..., None] / 255.0
    member_probs = np.stack([m.predict(x, batch_size=1000, verbose=0) for m in models])
    if weights is None or len(weights) != len(models):
        weights = [1.0] * len(models)
    probs = np.tensordot(np.asarray(weights) / np.sum(weights), member_probs, axes=1)
    times = []
    for _ in range(20):
        started = time.perf_counter()
        for m in models:
            m(x[:1], training=False)
        times.append(time.perf_counter() - started)
    per_digit = float(np.median(times[2:])) * 1000
    return {"accuracy": round(float((probs.argmax(1) == labels).mean()), 6),
            "latency_ms_p50_batch1": round(per_digit, 3)}


def run_bench(bundle_path: Path, data_dir=None, limit: int | None = None,
              threads: list[int] | None = None, sample_dir: Path | None = None,
              live_source: str | None = None, seconds: float = 10.0,
              repeats: int = 200, baselines: bool = True) -> dict:
    threads = threads or list(range(1, (os.cpu_count() or 1) + 1))
    bundle = open_bundle(bundle_path)
    runtime = find_runtime()
    images, labels = test_subset(data_dir, limit)
    started = time.perf_counter()
    classifier = Classifier(bundle, num_threads=threads[0]).open()
    load_ms = (time.perf_counter() - started) * 1000
    bar = progress(len(images), "MNIST test")
    probs = classifier.classify_many(images, 250, progress=bar.update)
    bar.close()
    accuracy = float((probs.argmax(1) == labels).mean())  # "not a digit" counts as wrong
    rejection = rejection_rates(classifier, probs, labels)
    recorded = float(bundle.manifest["accuracy"]["int8"])
    result = {
        "model": bundle.version,
        "bundle": str(bundle_path),
        "mnist_accuracy": round(accuracy, 6),
        "mnist_images": int(len(labels)),
        "manifest_accuracy": recorded,
        "accuracy_check": accuracy_check(accuracy, recorded, len(labels)),
        **rejection,
        "model_load_ms": round(load_ms, 3),
        "latency_ms": latency(bundle.model_path, 1, threads[0], repeats),
        "latency_ms_by_threads": {
            str(t): {"batch1": latency(bundle.model_path, 1, t, repeats),
                     "batch5": latency(bundle.model_path, 5, t, repeats)} for t in threads},
        "runtime": str(runtime),
        "machine": machine(),
        "model_bytes": bundle.manifest["size_bytes"],
    }
    if sample_dir is not None and Path(sample_dir).exists():
        pipe = pipeline_throughput(classifier, Path(sample_dir))
        result["pipeline_fps"] = pipe["fps"]
        result["stage_ms"] = pipe["stage_ms"]
        result["pipeline"] = pipe
    if live_source:
        result["live"] = live_throughput(classifier, live_source, seconds)
    classifier.close()
    if baselines:
        result["baselines"] = baseline_results(Path(bundle_path), images, labels, repeats)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def rejection_rates(classifier: Classifier, probs: np.ndarray, labels: np.ndarray) -> dict:
    """For a model with a "not a digit" answer: the MNIST accuracy without that answer,
    the test digits it rejects, and the golden set's non-digits it rejects."""
    reject = classifier.reject_index
    if reject is None:
        return {}
    from edge.golden import negatives_rejected

    result = {"mnist_accuracy_without_reject": round(float(
                  (probs[:, :DIGIT_CLASSES].argmax(1) == labels).mean()), 6),
              "false_rejections": round(float((probs.argmax(1) == reject).mean()), 6)}
    golden = negatives_rejected(classifier)
    if golden is not None:
        result["golden_negatives_rejected"] = round(golden, 4)
    return result


def baseline_results(bundle_path: Path, images, labels, repeats: int) -> dict:
    variants = bundle_path.with_name(bundle_path.name + ".variants")
    out = {}
    for name in ("float32", "float16", "dynamic", "member0-int8"):
        path = variants / f"{name}.tflite"
        if path.exists():
            out[name] = {"accuracy": round(tflite_accuracy(path, images, labels), 6),
                         "latency_ms_batch1": latency(path, 1, 1, repeats),
                         "size_bytes": path.stat().st_size}
    manifest = open_bundle(bundle_path).manifest
    weights = (manifest.get("training") or {}).get("member_weights")
    keras_result = keras_baseline(bundle_path.parent, images, labels, weights)
    if keras_result is not None:
        out["keras"] = keras_result
    return out


def format_table(result: dict) -> str:
    lines = [f"model {result['model']} ({result['model_bytes'] / 1024:.0f} KiB) on "
             f"{result['runtime']}, {result['machine'].get('cpu', result['machine']['machine'])}",
             "",
             f"MNIST accuracy   {result['mnist_accuracy']:.4%} on {result['mnist_images']} "
             f"images; manifest {result['manifest_accuracy']:.4%} -> "
             + ("OK" if result["accuracy_check"]["ok"] else "MISMATCH: broken install, wrong "
                "runtime or corrupt model"),
             *([f"not a digit      {result['false_rejections']:.2%} of the test digits "
                f"rejected (accuracy without the answer "
                f"{result['mnist_accuracy_without_reject']:.4%}); "
                f"{result.get('golden_negatives_rejected', float('nan')):.1%} of the golden "
                "non-digits rejected"] if "false_rejections" in result else []),
             f"model load       {result['model_load_ms']:.1f} ms",
             f"peak memory      {result['peak_rss_mb']:.0f} MB", "",
             "threads  batch  p50 ms   p95 ms   p99 ms"]
    for t, by_batch in result["latency_ms_by_threads"].items():
        for batch_name, lat in by_batch.items():
            lines.append(f"{t:>7}  {batch_name[5:]:>5}  {lat['p50']:7.3f}  {lat['p95']:7.3f}  "
                         f"{lat['p99']:7.3f}")
    if "pipeline" in result:
        p = result["pipeline"]
        lines += ["", f"pipeline on {p['frames']} sample frames: {p['fps']} fps; median ms: "
                  + ", ".join(f"{k} {v}" for k, v in p["stage_ms"].items())
                  + f"; JPEG decode {p['decode_ms_p50']} ms (not in total)"]
    if "live" in result:
        live = result["live"]
        lines.append(f"live {live['source']}: {live['fps']} fps, capture {live['capture_ms_p50']}"
                     f" ms, total {live['total_ms_p50']} ms")
    for name, base in result.get("baselines", {}).items():
        lat = base.get("latency_ms_batch1", {}).get("p50", base.get("latency_ms_p50_batch1"))
        lines.append(f"baseline {name:<13} accuracy {base['accuracy']:.4%}, "
                     f"batch-1 latency {lat:.3f} ms")
    return "\n".join(lines)
