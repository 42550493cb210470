"""Safe re-flashing: a model store with atomic activation, validation and rollback.

Store layout::

    <store>/versions/<version>/   model.tflite, manifest.json[, signature]
    <store>/current -> versions/<version>     (a symlink, replaced atomically)
    <store>/history.json                      (activated versions, oldest first)
    <store>/.staging-*/                       (work in progress; removed on the next flash)

A new model is checked (signature, sha256, tensor specs, preprocessing), validated on the
golden set, written under a temporary name, fsynced and renamed, and only then made
active by renaming a new symlink over ``current``. A power cut or SIGKILL at any point
leaves ``current`` pointing at one complete model: the old one or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tarfile
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from edge.bundle import MANIFEST_FILE, MODEL_FILE, BundleError, open_bundle
from edge.signing import SIGNATURE_FILE, verify_signature

logger = logging.getLogger(__name__)

BUNDLE_FILES = (MODEL_FILE, MANIFEST_FILE, SIGNATURE_FILE)
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_BUNDLE_BYTES = 64 * 1024 * 1024


class FlashError(RuntimeError):
    """A refused flash; the message is the reason. The active model is unchanged."""


@dataclass
class FlashPolicy:
    trusted_keys: list[str] = field(default_factory=list)
    allow_unsigned: bool = False
    tolerance: float = 0.02  # golden digits may score this much below the manifest
    frame_min_accuracy: float = 0.9  # digit accuracy on the golden sample frames
    keep: int = 3  # versions kept on disk, the active one included
    max_bundle_bytes: int = MAX_BUNDLE_BYTES


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())


def extract_archive(archive: Path, dest: Path, max_bytes: int = MAX_BUNDLE_BYTES) -> None:
    """Extract a bundle archive (.tar, .tar.gz), refusing anything but plain files with
    plain names: no absolute paths, no '..', no links or devices, no surprises in size."""
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise FlashError(f"{archive}: not a readable bundle archive ({exc})") from exc
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tar:
            _extract_members(tar, archive, dest, max_bytes)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise FlashError(f"{archive}: corrupt or truncated archive ({exc})") from exc
    except OSError as exc:
        if exc.errno is None:  # tarfile's own "unexpected end of data"
            raise FlashError(f"{archive}: corrupt or truncated archive ({exc})") from exc
        raise


def _extract_members(tar, archive: Path, dest: Path, max_bytes: int) -> None:
    total = 0
    for count, member in enumerate(tar, 1):  # lazily: a lying header is seen first
        if count > 10:
            raise FlashError(f"{archive}: too many entries; a bundle has at most 3 files")
        name = member.name
        if member.isdir() and name.strip("./") == "":
            continue
        if name.startswith("/") or ".." in Path(name).parts:
            raise FlashError(f"{archive}: refused entry {name!r} (absolute path or '..')")
        if not member.isfile():
            raise FlashError(f"{archive}: refused entry {name!r} (links, devices and "
                             "directories are not allowed)")
        base = Path(name).name
        if base not in BUNDLE_FILES or len(Path(name).parts) > 2:
            raise FlashError(f"{archive}: unexpected file {name!r} in a bundle")
        total += member.size
        if member.size > max_bytes or total > max_bytes:
            raise FlashError(f"{archive}: over the {max_bytes} byte bundle size limit")
        source = tar.extractfile(member)
        with open(dest / base, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())


def archive_bundle(bundle_dir: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for name in BUNDLE_FILES:
            if (bundle_dir / name).exists():
                tar.add(bundle_dir / name, arcname=name)
    return archive


class ModelStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.versions = self.root / "versions"
        self.current = self.root / "current"
        self.history_file = self.root / "history.json"

    def ensure(self) -> ModelStore:
        self.versions.mkdir(parents=True, exist_ok=True)
        return self

    # -- reading -----------------------------------------------------------------------
    def active(self) -> Path | None:
        return self.current.resolve() if self.current.exists() else None

    def active_version(self) -> str | None:
        active = self.active()
        return active.name if active else None

    def history(self) -> list[str]:
        try:
            return json.loads(self.history_file.read_text())
        except (OSError, json.JSONDecodeError):
            return []

    def list(self) -> list[dict]:
        active = self.active_version()
        rows = []
        for path in sorted(self.versions.glob("*")) if self.versions.exists() else []:
            try:
                manifest = json.loads((path / MANIFEST_FILE).read_text())
            except (OSError, json.JSONDecodeError):
                continue
            rows.append({"version": path.name, "active": path.name == active,
                         "int8_accuracy": manifest.get("accuracy", {}).get("int8"),
                         "created": manifest.get("created"),
                         "signed": (path / SIGNATURE_FILE).exists()})
        order = {v: i for i, v in enumerate(self.history())}
        return sorted(rows, key=lambda r: order.get(r["version"], -1))

    # -- writing -----------------------------------------------------------------------
    def _write_history(self, history: list[str]) -> None:
        tmp = self.root / f".history-{uuid.uuid4().hex}"
        with open(tmp, "w") as f:
            json.dump(history, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.history_file)

    def activate(self, version: str) -> None:
        """Point ``current`` at ``version`` in one atomic rename."""
        if not (self.versions / version / MANIFEST_FILE).exists():
            raise FlashError(f"version {version} is not installed")
        link = self.root / f".current-{uuid.uuid4().hex}"
        os.symlink(Path("versions") / version, link)
        os.replace(link, self.current)
        _fsync_dir(self.root)
        history = [v for v in self.history() if v != version] + [version]
        self._write_history(history)

    def clean_staging(self) -> None:
        for leftover in self.root.glob(".staging-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.root.glob(".current-*"):
            leftover.unlink(missing_ok=True)
        for leftover in self.root.glob(".history-*"):
            leftover.unlink(missing_ok=True)

    def prune(self, keep: int) -> None:
        history = self.history()
        protected = set(history[-max(keep, 2):]) | {self.active_version()}
        for path in self.versions.glob("*"):
            if path.name not in protected:
                # Rename first (atomic), so an interrupted delete never leaves a half
                # version that a rollback could pick.
                trash = self.root / f".staging-trash-{uuid.uuid4().hex}"
                os.rename(path, trash)
                shutil.rmtree(trash, ignore_errors=True)
        self._write_history([v for v in history if (self.versions / v).exists()])

    def rollback(self) -> str:
        active = self.active_version()
        candidates = [v for v in self.history() if v != active
                      and (self.versions / v / MANIFEST_FILE).exists()]
        if not candidates:
            raise FlashError("no earlier version to roll back to")
        previous = candidates[-1]
        self.activate(previous)
        return previous


def stage_bundle(source: Path, staging: Path, max_bytes: int) -> Path:
    """Copy (or extract) the bundle's files into ``staging``; returns the bundle dir."""
    bundle = staging / "bundle"
    if source.is_dir():
        bundle.mkdir(parents=True)
        total = 0
        for name in BUNDLE_FILES:
            path = source / name
            if path.is_symlink():
                raise FlashError(f"{path}: links are not allowed in a bundle")
            if path.exists():
                total += path.stat().st_size
                if total > max_bytes:
                    raise FlashError(f"{source}: over the {max_bytes} byte bundle size limit")
                _copy_file(path, bundle / name)
    elif source.is_file():
        extract_archive(source, bundle, max_bytes)
    else:
        raise FlashError(f"{source}: no such bundle directory or archive")
    return bundle


def flash(source: str | Path, store: ModelStore, policy: FlashPolicy,
          progress=lambda step, detail="": None) -> dict:
    """Check, validate, install and activate a bundle. Raises FlashError with the reason
    when it refuses; then the active model is the one that was active before."""
    from edge.classifier import Classifier
    from edge.golden import evaluate

    source = Path(source)
    store.ensure()
    store.clean_staging()
    previous = store.active_version()
    staging = store.root / f".staging-{uuid.uuid4().hex}"
    try:
        progress("staging")
        try:
            bundle_dir = stage_bundle(source, staging, policy.max_bundle_bytes)
        except OSError as exc:
            raise FlashError(f"cannot write the new model ({exc.strerror or exc}); "
                             "is the disk full?") from exc
        progress("verifying")
        if policy.allow_unsigned:
            logger.warning("allow_unsigned is on: accepting bundles without a valid "
                           "signature (development only)")
        else:
            try:
                verify_signature(bundle_dir, policy.trusted_keys)
            except BundleError as exc:
                raise FlashError(str(exc)) from exc
        try:
            bundle = open_bundle(bundle_dir)
        except BundleError as exc:
            raise FlashError(str(exc)) from exc
        version = bundle.version
        if not VERSION_PATTERN.fullmatch(version):
            raise FlashError(f"version {version!r} is not a safe name")
        if version == previous:
            return {"ok": True, "version": version, "previous": previous,
                    "detail": "already active"}
        progress("validating")
        try:
            with Classifier(bundle) as classifier:
                golden = evaluate(classifier)
        except (BundleError, ValueError, RuntimeError) as exc:
            raise FlashError(f"the model does not load: {exc}") from exc
        floor = float(bundle.manifest["accuracy"]["int8"]) - policy.tolerance
        if golden.digit_accuracy < floor:
            raise FlashError(f"golden set accuracy {golden.digit_accuracy:.2%} is below the "
                             f"manifest's {bundle.manifest['accuracy']['int8']:.2%} minus "
                             f"{policy.tolerance:.2%}")
        if golden.frame_digit_accuracy is not None and \
                golden.frame_digit_accuracy < policy.frame_min_accuracy:
            raise FlashError(f"golden frames digit accuracy {golden.frame_digit_accuracy:.2%} "
                             f"is below {policy.frame_min_accuracy:.2%}")
        progress("installing")
        target = store.versions / version
        try:
            if not target.exists():
                os.rename(bundle_dir, target)
                _fsync_dir(store.versions)
            progress("activating")
            store.activate(version)
        except OSError as exc:
            raise FlashError(f"cannot install the new model ({exc.strerror or exc})") from exc
        store.prune(policy.keep)
        logger.info("model %s is active (was %s)", version, previous)
        return {"ok": True, "version": version, "previous": previous,
                "golden": golden.as_dict()}
    finally:
        shutil.rmtree(staging, ignore_errors=True)
