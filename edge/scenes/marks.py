"""What a page holds besides digits, as float ink masks (1 = ink), cropped to their ink.

Letters and words (OpenCV's Hershey faces, bent by elastic distortion), punctuation and
symbols drawn as pen strokes (= : . , - + / % x), ticks, crossed-out strokes, scribbles,
ruled-line and grid fragments. Used by the negative pages (``digitcam scenes --style
negatives``) and by the training negatives (:mod:`train.negatives`).

Shapes a digit can honestly be are left out: a round O or o is a 0, a plain l, I or |
is a 1. A reader cannot tell them apart from the crop alone either; their neighbours in
a word tell (:func:`edge.reading.numbers.in_words`).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

HERSHEY_FACES = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                 cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN,
                 cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX]
# Letters that are not also a digit's shape (no O, o, l, I, i).
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"
SYMBOLS = "=:.,-+%x*#&?<>"  # no / ( ) !: each is a 1 as often
WORDS = ["Sum", "Total", "kg", "No.", "cm", "Date", "km/h", "Room", "Tel.", "Page", "ok",
         "kWh", "Nr", "m3", "Qty", "mm", "EUR", "Name", "Kasse", "Preis", "Uhr", "bar",
         "psi", "Amp", "Hz", "Level", "Gas", "Water", "meter", "x", "=", "Seat", "Box",
         "Week", "Mon", "Tue", "Fri", "Stk", "net", "max", "min"]
MARK_KINDS = ("letter", "word", "symbol", "tick", "cross_out", "scribble", "rule", "grid")


def crop_to_ink(mask: np.ndarray, level: float = 0.15) -> np.ndarray:
    """``mask`` cut to the box of its pixels above ``level`` (unchanged if it has none)."""
    ys, xs = np.nonzero(mask > level)
    if ys.size == 0:
        return mask
    return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float = 9.0
            ) -> np.ndarray:
    """A smooth random displacement of ``mask`` by up to ``alpha`` pixels."""
    h, w = mask.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dx *= alpha / (np.abs(dx).max() + 1e-6)
    dy *= alpha / (np.abs(dy).max() + 1e-6)
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR)


def text_mask(text: str, rng: np.random.Generator, faces=HERSHEY_FACES) -> np.ndarray:
    """``text`` in a random Hershey face and pen width, slanted and bent like handwriting."""
    face = faces[rng.integers(len(faces))]
    if rng.random() < 0.25:
        face |= cv2.FONT_ITALIC
    thickness = int(rng.integers(2, 8))
    (w, h), base = cv2.getTextSize(text, face, 2.5, thickness)
    canvas = np.zeros((h + base + 40, w + 40), np.uint8)
    cv2.putText(canvas, text, (20, h + 20), face, 2.5, 255, thickness, cv2.LINE_AA)
    canvas = canvas.astype(np.float32) / 255.0
    if rng.random() < 0.7:
        canvas = elastic(canvas, rng, rng.uniform(2, 7))
    shear = rng.uniform(-0.25, 0.2)
    canvas = cv2.warpAffine(canvas, np.float32([[1, shear, -shear * canvas.shape[0] / 2],
                                                [0, 1, 0]]), canvas.shape[::-1])
    return crop_to_ink(canvas)


def _strokes(rng: np.random.Generator, size: int, count: int) -> list[np.ndarray]:
    return [rng.uniform(0.1, 0.9, (2, 2)) * size for _ in range(count)]


def _pen(rng: np.random.Generator, size: int) -> int:
    return max(2, int(size * rng.uniform(0.04, 0.12)))


def _draw(canvas, points, thickness) -> None:
    pts = np.round(np.asarray(points)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], False, 1.0, thickness, cv2.LINE_AA)


def _wobbly(p0, p1, rng, steps: int = 8, amount: float = 0.03) -> np.ndarray:
    """A hand-drawn straight stroke: ``steps`` points with a little sideways wobble."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    t = np.linspace(0, 1, steps)[:, None]
    d = p1 - p0
    normal = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
    wobble = np.cumsum(rng.normal(0, amount * np.hypot(*d), steps))
    wobble -= np.linspace(wobble[0], wobble[-1], steps)
    return p0 + t * d + wobble[:, None] * normal


def stroke_mark(kind: str, rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A pen mark that is no digit: ``tick``, ``cross_out``, ``scribble``, ``rule`` (a
    piece of ruled line with the stub of a stroke) or ``grid`` (a grid crossing)."""
    canvas = np.zeros((size, size), np.float32)
    pen = _pen(rng, size)
    s = size
    if kind == "tick":
        a = (rng.uniform(0.1, 0.3) * s, rng.uniform(0.4, 0.6) * s)
        b = (rng.uniform(0.35, 0.5) * s, rng.uniform(0.75, 0.9) * s)
        c = (rng.uniform(0.75, 0.95) * s, rng.uniform(0.05, 0.3) * s)
        _draw(canvas, np.vstack([_wobbly(a, b, rng), _wobbly(b, c, rng)]), pen)
    elif kind == "cross_out":  # a few strokes hatched over each other
        for _ in range(int(rng.integers(3, 7))):
            y = rng.uniform(0.2, 0.8) * s
            _draw(canvas, _wobbly((0.1 * s, y + rng.normal(0, 0.1 * s)),
                                  (0.9 * s, y + rng.normal(0, 0.1 * s)), rng), pen)
        if rng.random() < 0.5:
            _draw(canvas, _wobbly((0.1 * s, 0.1 * s), (0.9 * s, 0.9 * s), rng), pen)
    elif kind == "scribble":
        points = np.cumsum(rng.normal(0, 0.18 * s, (int(rng.integers(6, 14)), 2)), axis=0)
        points -= points.min(axis=0)
        points *= 0.8 * s / max(points.max(), 1.0)
        _draw(canvas, points + 0.1 * s, pen)
    elif kind == "rule":  # a ruled line with a short stub of a stroke touching it
        y = rng.uniform(0.3, 0.7) * s
        cv2.line(canvas, (0, int(y)), (s - 1, int(y + rng.normal(0, 2))), 1.0,
                 max(1, pen // 2))
        x = rng.uniform(0.2, 0.8) * s
        _draw(canvas, _wobbly((x, y), (x + rng.normal(0, 0.1 * s),
                                       y - rng.uniform(0.1, 0.3) * s), rng), pen)
    elif kind == "grid":  # crossing lines: + L T shapes of squared paper, perhaps a stub
        thin = max(1, pen // 2)
        x, y = rng.uniform(0.3, 0.7, 2) * s
        form = rng.integers(3)
        cv2.line(canvas, (0, int(y)), (s - 1, int(y)), 1.0, thin)
        if form == 0:
            cv2.line(canvas, (int(x), 0), (int(x), s - 1), 1.0, thin)
        elif form == 1:
            cv2.line(canvas, (int(x), int(y)), (int(x), s - 1), 1.0, thin)
        else:
            cv2.line(canvas, (int(x), 0), (int(x), int(y)), 1.0, thin)
        if rng.random() < 0.5:
            _draw(canvas, _wobbly((x + 0.1 * s, y), (x + 0.25 * s, y + 0.25 * s), rng), pen)
    else:
        raise ValueError(f"unknown mark {kind!r}; known: {', '.join(MARK_KINDS)}")
    return crop_to_ink(canvas)


def random_mark(rng: np.random.Generator, kinds=MARK_KINDS) -> tuple[str, np.ndarray]:
    """One mark of a kind drawn from ``kinds``: its kind and its cropped float mask."""
    kind = kinds[rng.integers(len(kinds))]
    if kind == "letter":
        return kind, text_mask(LETTERS[rng.integers(len(LETTERS))], rng)
    if kind == "word":
        return kind, text_mask(WORDS[rng.integers(len(WORDS))], rng)
    if kind == "symbol":
        return kind, text_mask(SYMBOLS[rng.integers(len(SYMBOLS))], rng)
    return kind, stroke_mark(kind, rng)
