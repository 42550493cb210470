"""Read the four standard MNIST IDX gzip files with numpy alone.

Used by training (``train``), calibration and the on-device benchmark, so it must not
import TensorFlow. Every problem with a file raises :class:`MnistError` naming the file
and what was expected.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
COUNTS = {"train": 60_000, "test": 10_000}
IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
ENV_VAR = "DIGITCAM_MNIST_DIR"


class MnistError(RuntimeError):
    """A missing, truncated or corrupt MNIST file."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, 28, 28], 0 = background, 255 = ink
    labels: np.ndarray  # uint8 [N]


def default_dirs(start: Path | None = None) -> list[Path]:
    """Candidate directories, in the order they are tried."""
    start = Path.cwd() if start is None else start
    dirs: list[Path] = []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    repo_root = Path(__file__).resolve().parent.parent
    for base in (start, repo_root):
        dirs.append(base.parent / "shared" / "data" / "mnist")
    dirs.append(Path.home() / ".keras" / "datasets")
    return dirs


def find_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir`` if given, else ``$DIGITCAM_MNIST_DIR``, else ``../shared/data/mnist``,
    else the Keras download location. Never downloads."""
    if data_dir is not None:
        path = Path(data_dir)
        if not path.is_dir():
            raise MnistError(f"MNIST directory {path} does not exist")
        return path
    candidates = default_dirs()
    for path in candidates:
        if (path / FILES[("test", "images")]).exists():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise MnistError(
        f"MNIST files not found (tried {tried}). Put the four IDX .gz files in a directory "
        f"and pass --data-dir DIR or set {ENV_VAR}=DIR."
    )


def _read_gz(path: Path) -> bytes:
    if not path.exists():
        raise MnistError(f"{path}: file is missing; expected the MNIST file {path.name}")
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise MnistError(f"{path}: not a readable gzip file ({exc}); the file is truncated "
                         "or corrupt, copy it again") from exc


def read_idx(path: Path, magic: int, count: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """Parse one IDX file and check its magic number, count and shape."""
    raw = _read_gz(path)
    ndim = 1 + len(item_shape)
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise MnistError(f"{path}: {len(raw)} bytes is shorter than an IDX header")
    header = np.frombuffer(raw[:header_len], dtype=">u4")
    if int(header[0]) != magic:
        raise MnistError(f"{path}: magic number {int(header[0])}, expected {magic}")
    dims = tuple(int(d) for d in header[1:])
    expected = (count, *item_shape)
    if dims != expected:
        raise MnistError(f"{path}: shape {dims}, expected {expected}")
    size = int(np.prod(expected))
    body = raw[header_len:]
    if len(body) != size:
        raise MnistError(f"{path}: {len(body)} data bytes, expected {size} (truncated?)")
    return np.frombuffer(body, dtype=np.uint8).reshape(expected)


def load_split(split: str, data_dir: str | Path | None = None) -> Split:
    """Load ``"train"`` or ``"test"`` as uint8 arrays."""
    if split not in COUNTS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    directory = find_data_dir(data_dir)
    count = COUNTS[split]
    images = read_idx(directory / FILES[(split, "images")], IMAGE_MAGIC, count, (28, 28))
    labels = read_idx(directory / FILES[(split, "labels")], LABEL_MAGIC, count, ())
    if labels.max() > 9:
        raise MnistError(f"{directory / FILES[(split, 'labels')]}: label {labels.max()} > 9")
    logger.debug("loaded MNIST %s from %s: %d images", split, directory, count)
    return Split(images=images, labels=labels)
