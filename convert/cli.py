"""``digitcam convert RUN_DIR -o BUNDLE_DIR``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("convert", help="quantize a trained ensemble to an int8 bundle",
                              description="Convert a training run directory into a "
                                          "full-integer TFLite model bundle, checking parity "
                                          "with the float ensemble on the MNIST test set.")
    p.add_argument("run_dir", type=Path, help="a directory written by `digitcam train`")
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--representative-size", type=int, default=600,
                   help="training images in the representative dataset (default 600)")
    p.add_argument("--augmented-fraction", type=float, default=0.25,
                   help="share of representative images replaced by camera-like "
                        "augmented copies (default 0.25)")
    p.add_argument("--variants", default="float16,dynamic,member0-int8",
                   help="extra variants to build for comparison: float16, dynamic, "
                        "member0-int8 (one member alone); float32 is always built")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--test-limit", type=int, default=None,
                   help="evaluate parity on the first N test images only (quick checks)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.05,
                   help="fail if int8 accuracy is more than this many points below float "
                        "(default 0.05)")
    p.add_argument("--min-agreement", type=float, default=99.9,
                   help="fail if int8 and float top-1 agree on fewer than this percent of "
                        "test digits (default 99.9)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convert.build import ParityError, convert_run

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    try:
        report = convert_run(args.run_dir, args.output, args.representative_size,
                             args.augmented_fraction, variants, args.seed, args.data_dir,
                             args.test_limit, not args.no_latency,
                             args.max_accuracy_drop / 100, args.min_agreement / 100)
    except ParityError as exc:
        logger.error("%s", exc)
        return 1
    print(json.dumps(report, indent=2))
    return 0
