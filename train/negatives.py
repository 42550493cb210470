"""Training crops of what is not a digit, made the way the runtime makes digit crops.

Every negative starts as a float ink mask and goes through the device's own path: drawn
at a camera-like size with blur, faint ink and sensor noise, cut by a dilated mask of its
own strokes (as :func:`edge.reading.locate.cut_digit` cuts a component), fitted into the
20x20 box by centre of mass (:func:`edge.reading.normalize.mnist_layout`) and histogram
specified toward MNIST (:mod:`calibration.histogram`). Sources and their shares:

* ``marks`` – letters, words, symbols, ticks, crossings-out, scribbles, ruled-line and
  grid fragments (:mod:`edge.scenes.marks`, Hershey faces);
* ``fonts`` – letters and words in the TrueType faces matplotlib ships (DejaVu, STIX,
  Computer Modern), a second family of shapes the runtime's scenes never draw;
* ``pairs`` – two MNIST training digits touching or overlapping in one crop, and
  ``halves`` – a digit cut off at the side: what a wrong cut of touching digits gives;
* ``edges`` – shadow-edge and sheet-edge pieces; ``blank`` – paper and noise.

Everything is numpy + OpenCV, seeded, nothing downloaded. MNIST digits stay the only
positives.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from calibration.histogram import make_correction
from edge.reading.normalize import mnist_layout
from edge.scenes import marks

logger = logging.getLogger(__name__)

SHARES = {"marks": 0.54, "fonts": 0.17, "pairs": 0.13, "halves": 0.04, "edges": 0.07,
          "blank": 0.05}
FONT_TEXTS = list(marks.LETTERS) + marks.WORDS + list(marks.SYMBOLS)


@lru_cache(maxsize=1)
def font_files() -> tuple[Path, ...]:
    """The TrueType faces matplotlib ships (none if matplotlib is missing)."""
    try:
        import matplotlib
    except ImportError:
        return ()
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    keep = ("DejaVuSans", "DejaVuSerif", "STIXGeneral", "cmr10", "cmss10", "cmtt10", "cmti10")
    return tuple(sorted(p for p in folder.glob("*.ttf") if p.stem.startswith(keep)))


def font_mask(text: str, rng: np.random.Generator) -> np.ndarray:
    """``text`` in a random TrueType face (PIL), bent slightly; float mask, cropped."""
    from PIL import Image, ImageDraw, ImageFont

    files = font_files()
    if not files:
        return marks.text_mask(text, rng)
    font = ImageFont.truetype(str(files[rng.integers(len(files))]), 72)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 40, bottom - top + 40), 0)
    stroke = int(rng.integers(0, 4))
    ImageDraw.Draw(image).text((20 - left, 20 - top), text, fill=255, font=font,
                               stroke_width=stroke, stroke_fill=255)
    mask = np.asarray(image, np.float32) / 255.0
    if rng.random() < 0.6:
        mask = marks.elastic(mask, rng, rng.uniform(2, 6))
    return marks.crop_to_ink(mask)


def _pair(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two MNIST digits side by side, touching or overlapping by up to a fifth."""
    a, b = (marks.crop_to_ink(images[i].astype(np.float32) / 255.0, 0.1)
            for i in rng.integers(len(images), size=2))
    h = max(a.shape[0], b.shape[0])
    overlap = int(rng.uniform(-0.05, 0.2) * h)
    width = a.shape[1] + b.shape[1] - overlap
    canvas = np.zeros((h + 4, max(width, a.shape[1], b.shape[1]) + 4), np.float32)
    ya, yb = (h - a.shape[0]) // 2 + 2, (h - b.shape[0]) // 2 + 2
    canvas[ya:ya + a.shape[0], 2:2 + a.shape[1]] = a
    x = 2 + a.shape[1] - overlap
    region = canvas[yb:yb + b.shape[0], x:x + b.shape[1]]
    np.maximum(region, b[:, :region.shape[1]], out=region)
    return marks.crop_to_ink(canvas)


def _half(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The left or right 35-55 % of a digit that is not a 1 (a cut 1 is still a 1)."""
    pool = np.flatnonzero(labels != 1)
    digit = marks.crop_to_ink(images[pool[rng.integers(pool.size)]].astype(np.float32)
                              / 255.0, 0.1)
    keep = max(2, int(digit.shape[1] * rng.uniform(0.35, 0.55)))
    piece = digit[:, :keep] if rng.random() < 0.5 else digit[:, -keep:]
    return marks.crop_to_ink(piece)


def _edge(rng: np.random.Generator) -> np.ndarray:
    """A piece of a shadow's or a sheet's edge: a soft dark band along a line."""
    size = 64
    canvas = np.zeros((size, size), np.float32)
    angle = rng.uniform(0, np.pi)
    d = np.array([np.cos(angle), np.sin(angle)]) * size
    c = rng.uniform(0.3, 0.7, 2) * size
    cv2.line(canvas, tuple(np.round(c - d).astype(int)), tuple(np.round(c + d).astype(int)),
             1.0, int(rng.integers(2, 8)))
    if rng.random() < 0.5:  # the corner of a sheet or of a shadow
        e = np.array([-d[1], d[0]])
        cv2.line(canvas, tuple(np.round(c).astype(int)), tuple(np.round(c + e).astype(int)),
                 1.0, int(rng.integers(2, 8)))
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.5, 3))
    # a part of it, as a component of the threshold would be
    y0, x0 = rng.integers(0, size // 2, 2)
    piece = canvas[y0:y0 + int(rng.integers(size // 3, size)),
                   x0:x0 + int(rng.integers(size // 3, size))]
    return marks.crop_to_ink(piece if piece.max() > 0.2 else canvas)


def _blank(rng: np.random.Generator) -> np.ndarray:
    """Paper texture and sensor noise, blotchy."""
    size = int(rng.integers(12, 40))
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0),
                             rng.uniform(0.5, 2.5))
    return np.clip(noise * rng.uniform(0.2, 0.6) + rng.uniform(0.0, 0.2), 0, 1)


def as_runtime_ink(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A float mask turned into the ink a runtime crop holds: drawn 12-60 px tall,
    blurred, with faint or strong ink and noise, cut by a dilation of its own strokes."""
    height = int(rng.uniform(12, 60))
    scale = height / max(mask.shape[0], 1)
    width = int(np.clip(round(mask.shape[1] * scale), 2, 4 * height))
    ink = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.3, 1.2))
    ink = ink * rng.uniform(0.35, 1.0) + rng.normal(0, rng.uniform(0, 0.05), ink.shape)
    strokes = (ink > 0.2).astype(np.uint8)
    if strokes.any():
        reach = max(1, height // 12)
        near = cv2.dilate(strokes, cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
        ink = ink * near
    return np.clip(ink * 255, 0, 255).astype(np.uint8)


def _too_like_a_one(crop_ink: np.ndarray) -> bool:
    """One straight bar at any slant (what is left of an l, a grid line, a sheet edge or
    half a 4): a 1 as well, so it is not taught as "not a digit"."""
    strokes = (crop_ink > 0.3 * max(int(crop_ink.max()), 1)).astype(np.uint8)
    points = cv2.findNonZero(strokes)
    if points is None:
        return False
    (_, _), (w, h), _ = cv2.minAreaRect(points)
    short, long = sorted((w + 1, h + 1))
    return short / long < 0.4 and len(points) / (short * long) > 0.5


def make_negatives(count: int, seed: int, mnist_images: np.ndarray,
                   mnist_labels: np.ndarray, correction: str = "specify",
                   shares: dict[str, float] | None = None, progress=None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uint8 ``[N, 28, 28]`` crops of non-digits, as the runtime would feed them,
    and each one's source name (``[N]`` str). ``mnist_images`` are training digits for the
    pairs and halves; never the test set."""
    shares = dict(SHARES if shares is None else shares)
    unknown = set(shares) - set(SHARES)
    if unknown:
        raise ValueError(f"unknown negative sources {sorted(unknown)}; known: {sorted(SHARES)}")
    rng = np.random.default_rng(seed)
    names = list(shares)
    p = np.array([shares[n] for n in names], np.float64)
    kinds = rng.choice(len(names), size=count, p=p / p.sum())
    crops = np.zeros((count, 28, 28), np.uint8)
    for i, k in enumerate(kinds):
        source = names[k]
        for _ in range(10):
            if source == "marks":
                mask = marks.random_mark(rng)[1]
            elif source == "fonts":
                mask = font_mask(FONT_TEXTS[rng.integers(len(FONT_TEXTS))], rng)
            elif source == "pairs":
                mask = _pair(mnist_images, rng)
            elif source == "halves":
                mask = _half(mnist_images, mnist_labels, rng)
            elif source == "edges":
                mask = _edge(rng)
            else:
                mask = _blank(rng)
            ink = as_runtime_ink(mask, rng)
            if ink.any() and (source == "blank" or not _too_like_a_one(ink)):
                break
        crops[i] = mnist_layout(ink)
        if progress is not None:
            progress(1)
    corrected = make_correction(correction)(crops)
    return corrected, np.array(names, dtype=object)[kinds].astype(str)


def page_crops(pages: int, seed: int, digit_source=None, correction: str = "specify",
               progress=None) -> np.ndarray:
    """What the runtime itself cuts out of pages where no digit is: crops that
    :func:`edge.reading.locate.locate` finds on generated pages of words and marks
    (``negatives`` scenes), and the crops it finds on field scenes away from every true
    digit (shadow and sheet edges, words, line remnants). Seeds here are training seeds:
    evaluation pages use others."""
    from edge.reading.locate import locate
    from edge.reading.normalize import normalize_all
    from edge.scenes.field import generate_field

    correct = make_correction(correction)
    rng = np.random.default_rng(seed)
    crops = []
    for page in range(pages):
        frame, truth = generate_field(rng, digit_source, negative=page % 2 == 0)
        digits = locate(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        away = [d for d in digits if all(_overlap(d.box, box) < 0.1 for box in truth.boxes)]
        if away:
            crops.append(normalize_all(away, correct))
        if progress is not None:
            progress(1)
    return np.concatenate(crops) if crops else np.zeros((0, 28, 28), np.uint8)


def _overlap(a, b) -> float:
    """Intersection over the smaller box's area."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / max(1, min(a[2] * a[3], b[2] * b[3]))


def rendered_digits(count: int, seed: int, correction: str = "specify"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Digits drawn by the same machinery as the non-digits (Hershey and TrueType faces,
    elastic bending, runtime-like ink, the runtime's layout): positives for the gate only,
    so that it learns a digit's shape rather than the drawing style of its negatives. The
    digit members never see them: they learn from MNIST alone."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    crops = np.zeros((count, 28, 28), np.uint8)
    for i, digit in enumerate(labels):
        text = str(int(digit))
        mask = font_mask(text, rng) if rng.random() < 0.5 else marks.text_mask(text, rng)
        crops[i] = mnist_layout(as_runtime_ink(mask, rng))
    return make_correction(correction)(crops), labels


def runtime_digits(images: np.ndarray, seed: int, correction: str = "specify") -> np.ndarray:
    """MNIST digits passed through the same runtime-like path as the non-digits (camera
    size, blur, faint ink, noise, the runtime's layout and specification): positives for
    the gate, so that the path itself is no sign of a non-digit."""
    rng = np.random.default_rng(seed)
    crops = np.zeros((len(images), 28, 28), np.uint8)
    for i, image in enumerate(images):
        mask = marks.crop_to_ink(image.astype(np.float32) / 255.0, 0.1)
        crops[i] = mnist_layout(as_runtime_ink(mask, rng))
    return make_correction(correction)(crops)
