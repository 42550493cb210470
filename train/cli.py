"""``digitcam train``: argument parsing for :mod:`train.run`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the Keras CNN ensemble on MNIST",
                              description="Train the ensemble and write a run directory.")
    p.add_argument("--run-dir", type=Path, default=Path("runs/ensemble"),
                   help="where models, checkpoints, report.json and plots go")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="directory with the four MNIST IDX .gz files "
                        "(default: $DIGITCAM_MNIST_DIR, then ../shared/data/mnist)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs per member")
    p.add_argument("--width", type=int, default=None,
                   help="channels of the members' middle stage (default 24)")
    p.add_argument("--aligned-channels", action="store_true",
                   help="every channel count a multiple of 8: members 20-40 %% faster with "
                        "XNNPACK int8 (not the shipped model's layout; see train/models.py)")
    p.add_argument("--schedule", choices=["cosine", "exponential"], default=None,
                   help="learning-rate annealing: one warm-up epoch then cosine (default), "
                        "or exponential decay by --learning-rate-decay per epoch")
    p.add_argument("--learning-rate-decay", type=float, default=None,
                   help="per-epoch factor of the exponential schedule (default 0.84)")
    p.add_argument("--members", default=None,
                   help="comma-separated member kinds (resnet,plain,strided)")
    p.add_argument("--ensemble", choices=["boost", "average"], default="boost",
                   help="boost: SAMME reweighting between members (default); "
                        "average: every member sees uniform weights")
    p.add_argument("--reject", type=float, default=None, metavar="SHARE",
                   help="learn an eleventh answer, 'not a digit', from generated non-digits "
                        "as this share of the training digits (e.g. 0.2; default: none)")
    p.add_argument("--gate", action="store_true",
                   help="keep the --init-from members as they are and train only a small "
                        "'not a digit' gate beside them (see train/gate.py); needs --reject")
    p.add_argument("--negative-pages", type=int, default=None,
                   help="also the crops the runtime cuts from this many generated pages "
                        "away from any digit (hard negatives; default 0)")
    p.add_argument("--negative-weight", type=float, default=None,
                   help="loss weight of each non-digit relative to a digit (default 1)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="fine-tune: start each member from the trained member of the same "
                        "name (a run directory or a folder such as models/keras)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="peak learning rate (default 2e-3; lower for --init-from)")
    p.add_argument("--train-limit", type=int, default=None,
                   help="train on this many of the training digits (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="tiny configuration that trains end to end in about a minute")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from train.run import TrainConfig, quick_config, train

    overrides = {"data_dir": args.data_dir, "seed": args.seed,
                 "boost": args.ensemble == "boost"}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.reject is not None:
        overrides["negative_share"] = args.reject
    for name in ("width", "schedule", "learning_rate_decay", "negative_weight",
                 "negative_pages", "init_from", "learning_rate", "train_limit"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.aligned_channels:
        overrides["aligned_channels"] = True
    if args.members:
        overrides["members"] = [m.strip() for m in args.members.split(",") if m.strip()]
    if args.quick:
        config = quick_config(args.run_dir, **overrides)
    else:
        config = TrainConfig(run_dir=args.run_dir, **overrides)
    if args.gate:
        from train.gate import train_gate

        report = train_gate(config, resume=args.resume)
    else:
        report = train(config, resume=args.resume)
    print(json.dumps(report["test_accuracy"], indent=2))
    return 0
