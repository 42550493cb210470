"""``digitcam bench``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="accuracy, latency and throughput of the installed model",
        description="Benchmark the installed model where it runs. MNIST test files are read "
                    "from --data-dir (copy the four t10k/train .gz files to the device, e.g. "
                    "scp ../shared/data/mnist/t10k-* pi@device:mnist/).")
    p.add_argument("--model", help="bundle directory (default: active or shipped)")
    p.add_argument("--store", default="~/.local/share/digitcam/models")
    p.add_argument("--data-dir", type=Path, help="directory with the MNIST test files")
    p.add_argument("--limit", type=int, help="a random subset of N test images")
    p.add_argument("--threads", help="comma-separated thread counts (default 1..CPUs)")
    p.add_argument("--samples", type=Path, default=SAMPLES,
                   help="frames for the pipeline throughput (default: shipped samples)")
    p.add_argument("--source", help="also measure a live camera (e.g. picamera2, 0)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to measure --source")
    p.add_argument("--repeats", type=int, default=200, help="invokes per latency figure")
    p.add_argument("--no-baselines", action="store_true", help="skip the comparison models")
    p.add_argument("--strict", action="store_true",
                   help="exit non-zero when accuracy differs from the manifest")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--mqtt", help="publish the result on <prefix>/bench at HOST[:PORT]")
    p.add_argument("--device-id", help="device id for the MQTT prefix")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.bench import format_table, run_bench
    from edge.bundle import BundleError
    from edge.mnist import MnistError
    from edge.models import resolve_bundle

    threads = [int(t) for t in args.threads.split(",")] if args.threads else None
    try:
        result = run_bench(resolve_bundle(args.model, args.store), args.data_dir, args.limit,
                           threads, args.samples, args.source, args.seconds, args.repeats,
                           not args.no_baselines)
    except (BundleError, MnistError, OSError) as exc:
        logger.error("%s", exc)
        return 2
    print(json.dumps(result) if args.json else format_table(result))
    if args.mqtt:
        from edge.outputs.mqtt import publish_once

        publish_once(args.mqtt, args.device_id, "bench", result)
    if not result["accuracy_check"]["ok"]:
        logger.error("accuracy %.4f%% differs from the manifest's %.4f%% by more than %.4f "
                     "points: broken install, wrong runtime or corrupt model",
                     result["mnist_accuracy"] * 100, result["manifest_accuracy"] * 100,
                     result["accuracy_check"]["tolerance"] * 100)
        if args.strict:
            return 1
    return 0
