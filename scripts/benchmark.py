"""Regenerate the README's performance section (the development benchmark).

    scripts/benchmark.sh            # = .venv/bin/python scripts/benchmark.py --readme README.md

Measures, in one run on this machine: training and conversion figures (from the shipped
reports), int8 vs float accuracy on the full MNIST test set, latency of the int8 ensemble
and its baselines, end-to-end reading accuracy on generated scenes that were never used
for tuning (MNIST test digits and non-MNIST glyphs) with the three crop corrections, and
the whole-pipeline latency on 640x480 frames with five digits, single thread.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.bench import run_bench  # noqa: E402
from edge.classifier import Classifier  # noqa: E402
from edge.evaluate import read_jsonl, score  # noqa: E402
from edge.pipeline import Frame, Pipeline  # noqa: E402
from edge.scenes import write_scenes  # noqa: E402

BUNDLE = ROOT / "models" / "digitcam-int8"
# Tuning used seeds 1001-1004 and tests 123/456. Seeds 5001/5002 were the evaluation
# scenes until their errors were looked at (the bold-stroke fix), and 7001/7002 until
# frames of 7001 were read while choosing the gate's calibration; these have not been.
EVAL_SEEDS = {"mnist": 7101, "script": 7102}


def scene_accuracy(classifier, scenes: Path, labels: list[dict]) -> dict:
    out = {}
    for correction in ("specify", "gamma", "none"):
        pipeline = Pipeline(classifier, correction=correction)
        for style in ("mnist", "script"):
            # The five-digit latency frames are MNIST-style too: not part of this set.
            chosen = [label for label in labels
                      if label["style"] == style and label["file"].startswith(style)]
            results = [pipeline.process(Frame(cv2.imread(label["source"]), label["source"], i,
                                              0.0)) for i, label in enumerate(chosen)]
            out[f"{correction}/{style}"] = score(results, chosen)
    return out


def five_digit_latency(classifier, scenes: Path, passes: int = 5) -> dict:
    """Whole-pipeline latency on 640x480 frames with five digits, single thread, for frames
    as the Pi camera delivers them (its luma plane; image files nobody looks at are decoded
    the same way) and as a USB camera does (BGR, converted to gray by the pipeline). The
    passes alternate between the two, so a busy spell of the host hits both alike."""
    cv2.setNumThreads(1)
    labels = [label for label in read_jsonl(scenes / "labels.jsonl")
              if label["file"].startswith("five_")]
    frames = {"luma": [cv2.imread(label["source"], cv2.IMREAD_GRAYSCALE) for label in labels],
              "bgr": [cv2.imread(label["source"]) for label in labels]}
    pipeline = Pipeline(classifier)
    totals = {kind: [] for kind in frames}
    pass_medians = {kind: [] for kind in frames}
    stages = {kind: {"locate": [], "preprocess": [], "infer": []} for kind in frames}
    for _ in range(passes):
        for kind, images in frames.items():
            this_pass = []
            for i, image in enumerate(images):
                started = time.perf_counter()
                result = pipeline.process(Frame(image, "bench", i, 0.0))
                json.dumps(result)
                this_pass.append((time.perf_counter() - started) * 1000)
                for stage, values in stages[kind].items():
                    values.append(result["latency_ms"][stage])
            totals[kind] += this_pass
            pass_medians[kind].append(round(float(np.median(this_pass)), 3))
    return {kind: {"frames": len(images), "median_ms": round(float(np.median(totals[kind])), 3),
                   "p95_ms": round(float(np.percentile(totals[kind], 95)), 3),
                   "pass_medians_ms": pass_medians[kind],
                   "stage_median_ms": {stage: round(float(np.median(values)), 3)
                                       for stage, values in stages[kind].items()}}
            for kind, images in frames.items()}


def markdown(data: dict) -> str:
    train, conv, bench = data["training"], data["convert"], data["bench"]
    acc = train["test_accuracy"]
    lines = [
        f"Measured by `scripts/benchmark.sh` on {bench['machine'].get('cpu', '?')} "
        f"({bench['machine']['cpus']} cores), {bench['runtime']}, {data['date']}.",
        "",
        "| what | figure |",
        "| --- | --- |",
        f"| ensemble test accuracy (Keras, float) | {acc['ensemble']:.2%} "
        f"({train['combiner']} combination) |",
        f"| members | {', '.join(f'{a:.2%}' for a in acc['members'])} |",
        f"| average vs boosted combination | {acc['average']:.2%} vs {acc['boosted']:.2%} |",
        f"| training wall time (3 members, this CPU, no GPU) | "
        f"{train.get('wall_seconds', train['train_seconds']) / 60:.0f} min |",
        f"| int8 TFLite accuracy (full test set) | {conv['accuracy']['int8']:.2%} "
        f"(float {conv['accuracy']['float']:.2%}, top-1 agreement "
        f"{conv['top1_agreement']:.2%}) |",
        f"| on-device check (`digitcam bench`) | {bench['mnist_accuracy']:.2%}, manifest "
        f"{bench['manifest_accuracy']:.2%} |",
        f"| int8 size vs float32 | {conv['size_bytes']['int8'] / 1024:.0f} KiB vs "
        f"{conv['size_bytes']['float32'] / 1024:.0f} KiB (1/"
        f"{1 / conv['int8_size_ratio']:.1f}) |",
    ]
    if "ensemble_without_reject" in acc:
        int8 = conv["accuracy"]
        lines += [
            f"| MNIST test, \"not a digit\" counted wrong / best of the ten digits alone | "
            f"float {acc['ensemble']:.2%} / {acc['ensemble_without_reject']:.2%}; int8 "
            f"{int8['int8']:.2%} / {int8['int8_without_reject']:.2%} |",
            f"| test digits rejected as \"not a digit\" | float "
            f"{acc['false_rejections']:.2%}, int8 {int8['false_rejections']:.2%} |",
            f"| generated non-digit crops rejected ({acc['negative_test_crops']}, unseen) | "
            f"{acc['negatives_rejected']:.1%} (" + ", ".join(
                f"{k} {v:.0%}" for k, v in acc["negatives_rejected_by_source"].items())
            + ") |",
            f"| golden set on the device (`digitcam bench`) | {bench['false_rejections']:.2%} "
            f"of the test digits rejected, {bench['golden_negatives_rejected']:.1%} of the "
            "golden non-digits |",
        ]
    lat = conv.get("latency_ms_per_digit_1_thread", {})
    if lat:
        lines.append("| per-digit latency, 1 thread (convert) | " + ", ".join(
            f"{k} {v:.3f} ms" for k, v in sorted(lat.items())) + " |")
    for threads, by_batch in bench["latency_ms_by_threads"].items():
        lines.append(f"| int8 latency, {threads} thread(s) | batch 1: p50 "
                     f"{by_batch['batch1']['p50']:.3f} / p99 {by_batch['batch1']['p99']:.3f} ms;"
                     f" batch 5: p50 {by_batch['batch5']['p50']:.3f} ms |")
    for name, base in bench.get("baselines", {}).items():
        p50 = base.get("latency_ms_batch1", {}).get("p50", base.get("latency_ms_p50_batch1"))
        lines.append(f"| baseline {name} | accuracy {base['accuracy']:.2%}, batch-1 p50 "
                     f"{p50:.3f} ms |")
    captions = {"luma": "luma frame (Pi camera)", "bgr": "BGR frame (USB camera)"}
    for kind, five in data["five_digit_latency"].items():
        lines.append(f"| whole pipeline, 640x480 {captions[kind]}, 5 digits, 1 thread (decode "
                     f"excluded) | median {five['median_ms']:.2f} ms, p95 {five['p95_ms']:.2f}"
                     " ms; medians of the five passes "
                     + " / ".join(f"{ms:.2f}" for ms in five["pass_medians_ms"]) + " ms |")
        lines.append("| of which (stage medians) | " + ", ".join(
            f"{stage} {ms:.2f} ms" for stage, ms in five["stage_median_ms"].items()) + " |")
    lines.append(f"| pipeline on the shipped samples | {bench['pipeline_fps']} fps |")
    lines += ["", "Reading accuracy on generated scenes never used for tuning "
              f"({data['scenes']['frames_per_style']} frames per style):", "",
              "| correction | MNIST digits: digit acc. | exact reading | non-MNIST glyphs: "
              "digit acc. | exact reading |", "| --- | --- | --- | --- | --- |"]
    for correction in ("specify", "gamma", "none"):
        m = data["scenes"][f"{correction}/mnist"]
        s = data["scenes"][f"{correction}/script"]
        lines.append(f"| {correction} | {m['digit_accuracy']:.2%} | "
                     f"{m['exact_reading_rate']:.2%} | {s['digit_accuracy']:.2%} | "
                     f"{s['exact_reading_rate']:.2%} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", type=Path, help="replace the benchmark section here")
    parser.add_argument("--frames", type=int, default=300, help="scenes per style")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmark.json")
    args = parser.parse_args()
    training = json.loads((ROOT / "models" / "report.json").read_text())
    convert = json.loads((BUNDLE.with_name(BUNDLE.name + ".variants") /
                          "convert_report.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        scenes = Path(tmp)
        for style, seed in EVAL_SEEDS.items():
            write_scenes(scenes, args.frames, style, seed)
        write_scenes(scenes, 50, "mnist", 5003, prefix="five", digit_count=5)
        labels = read_jsonl(scenes / "labels.jsonl")
        with Classifier(BUNDLE, num_threads=1) as classifier:
            accuracy = scene_accuracy(classifier, scenes, labels)
            five = five_digit_latency(classifier, scenes)
    bench = run_bench(BUNDLE, threads=[1, 2], sample_dir=ROOT / "samples", repeats=300)
    data = {"date": time.strftime("%Y-%m-%d"), "training": training, "convert": convert,
            "bench": bench, "five_digit_latency": five,
            "scenes": {"frames_per_style": args.frames, **accuracy}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2))
    text = markdown(data)
    print(text)
    if args.readme:
        readme = args.readme.read_text()
        block = f"<!-- benchmark:start -->\n{text}\n<!-- benchmark:end -->"
        readme = re.sub(r"<!-- benchmark:start -->.*<!-- benchmark:end -->", block, readme,
                        flags=re.S)
        args.readme.write_text(readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
