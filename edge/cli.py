"""The ``digitcam`` command. Subcommands load their modules lazily, so ``digitcam run``
on a device never imports TensorFlow."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)

SUBCOMMAND_MODULES = ["train.cli", "convert.cli", "edge.run_cli", "edge.bench_cli",
                      "edge.flash_cli"]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="digitcam", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output on stderr (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose + 1, 2),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    return args.func(args)


if __name__ == "__main__":  # python -m edge.cli
    sys.exit(main())
