"""Generated frames with ground truth, for tests, tuning, benchmarks and demos.

* ``paper`` — a sheet filling the frame, photographed by a cheap camera (styles
  ``mnist`` and ``script``).
* ``field`` — a sheet where it lies: on a desk, tilted, shadowed, dim, with ruled or grid
  paper, underlines, boxes, words, touching, small and pencil digits (style ``field``);
  the same pages holding words, letters, symbols and pen marks but no digit (style
  ``negatives``): every digit read there is a false one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from edge.scenes.field import CONDITIONS, FieldOptions, generate_field
from edge.scenes.paper import SceneTruth, generate_scene

logger = logging.getLogger(__name__)

STYLES = ("mnist", "script", "field", "negatives")

__all__ = ["CONDITIONS", "STYLES", "FieldOptions", "SceneTruth", "generate_field",
           "generate_scene", "write_scenes"]


def write_scenes(out_dir: Path, count: int, style: str, seed: int, data_dir=None,
                 prefix: str | None = None, digit_count: int | None = None,
                 options: FieldOptions | None = None, progress=None) -> Path:
    """Write ``count`` frames and append their truth to ``labels.jsonl`` (one object a
    line). Field frames are PNG (their JPEG damage, if any, is one of their conditions),
    the others JPEG."""
    from edge import mnist

    if style not in STYLES:
        raise ValueError(f"unknown scene style {style!r}; choose one of {', '.join(STYLES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    source = None
    if style in ("mnist", "field"):
        test = mnist.load_split("test", data_dir)
        source = (test.images, test.labels)
    prefix = prefix or style
    labels_path = out_dir / "labels.jsonl"
    with open(labels_path, "a") as labels:
        for i in range(count):
            if style in ("field", "negatives"):
                frame, truth = generate_field(rng, source, options,
                                              negative=style == "negatives")
                name = f"{prefix}_{i:04d}.png"
                cv2.imwrite(str(out_dir / name), frame)
            else:
                frame, truth = generate_scene(rng, source, style, count=digit_count)
                name = f"{prefix}_{i:04d}.jpg"
                cv2.imwrite(str(out_dir / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
            labels.write(json.dumps({"source": str(out_dir / name), "file": name,
                                     **asdict(truth)}) + "\n")
            if progress is not None:
                progress(1)
    return labels_path
