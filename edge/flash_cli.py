"""``digitcam flash``, ``digitcam keygen`` and ``digitcam sign``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    f = subparsers.add_parser(
        "flash", help="install a new model safely (or roll back, or list)",
        description="Check a bundle's signature, hash and tensors, validate it on the golden "
                    "set, and make it the active model atomically. Exit status 0 only when "
                    "the new model is active. With --mqtt, send it to devices instead.")
    f.add_argument("bundle", nargs="?", type=Path, help="bundle directory or .tar.gz archive")
    f.add_argument("--config", type=Path, help="device config (store, trusted keys)")
    f.add_argument("--store", help="model store directory (default from the config)")
    f.add_argument("--trusted-key", action="append", default=[],
                   help="trust this Ed25519 public key (hex); repeatable")
    f.add_argument("--allow-unsigned", action="store_true",
                   help="accept unsigned bundles (development only)")
    f.add_argument("--tolerance", type=float, default=0.02,
                   help="golden-set accuracy may be this far below the manifest (0.02)")
    f.add_argument("--keep", type=int, default=3, help="versions kept on disk (3)")
    f.add_argument("--rollback", action="store_true", help="go back to the previous version")
    f.add_argument("--list", action="store_true", help="list installed versions")
    f.add_argument("--mqtt", help="flash remote devices through the broker at HOST[:PORT]")
    f.add_argument("--device", action="append", default=[],
                   help="remote device id (repeatable); with --mqtt")
    f.add_argument("--all-devices", action="store_true",
                   help="every device online under --prefix-root; with --mqtt")
    f.add_argument("--prefix-root", default="digitcam", help="topic root of the fleet")
    f.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for outcomes")
    f.set_defaults(func=run_flash)

    k = subparsers.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    k.add_argument("-o", "--output", type=Path, default=Path("digitcam-signing"),
                   help="writes OUTPUT.key (private, mode 0600) and OUTPUT.pub")
    k.set_defaults(func=run_keygen)

    s = subparsers.add_parser("sign", help="sign a bundle with a private key")
    s.add_argument("bundle", type=Path)
    s.add_argument("--key", type=Path, required=True, help="private key from `digitcam keygen`")
    s.set_defaults(func=run_sign)


def run_keygen(args: argparse.Namespace) -> int:
    from edge.signing import keygen

    public = keygen(args.output.with_suffix(".key"), args.output.with_suffix(".pub"))
    print(public)
    return 0


def run_sign(args: argparse.Namespace) -> int:
    from edge.bundle import BundleError, open_bundle
    from edge.signing import sign_bundle

    try:
        open_bundle(args.bundle)
        path = sign_bundle(args.bundle, args.key)
    except (BundleError, OSError) as exc:
        logger.error("%s", exc)
        return 2
    print(path)
    return 0


def run_flash(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.flash import FlashError, FlashPolicy, ModelStore, flash

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        logger.error("%s", exc)
        return 2
    if args.mqtt:
        from edge.remote import flash_remote

        if args.bundle is None:
            logger.error("give the bundle to send")
            return 2
        return flash_remote(args.bundle, args.mqtt, args.device, args.all_devices,
                            args.prefix_root, args.timeout)
    store = ModelStore(args.store or config.model.store)
    if args.list:
        print(json.dumps(store.list(), indent=2))
        return 0
    try:
        if args.rollback:
            version = store.rollback()
            print(json.dumps({"ok": True, "version": version}))
            return 0
        if args.bundle is None:
            logger.error("give a bundle to flash, or --rollback or --list")
            return 2
        policy = FlashPolicy(trusted_keys=[*config.model.trusted_keys, *args.trusted_key],
                             allow_unsigned=args.allow_unsigned or config.model.allow_unsigned,
                             tolerance=args.tolerance, keep=args.keep)
        outcome = flash(args.bundle, store, policy,
                        progress=lambda step, detail="": logger.info("flash: %s", step))
    except FlashError as exc:
        logger.error("flash refused: %s (active model unchanged: %s)", exc,
                     store.active_version())
        print(json.dumps({"ok": False, "error": str(exc), "active": store.active_version()}))
        return 1
    print(json.dumps(outcome))
    return 0
