"""Photo-like frames of handwritten digits with ground truth, for tests, tuning and demos.

A scene is a sheet of paper photographed by a cheap camera: an off-white or tinted
background, uneven light and a shadow, sometimes notebook lines, ink of a dark colour,
slight rotation, lens blur, sensor noise, a squeezed contrast range and JPEG artefacts.
Digits come from MNIST test images (``style="mnist"``) or from a non-MNIST source
(``style="script"``): OpenCV's Hershey vector fonts, drawn with a random pen width and
bent by a random elastic distortion — handwriting-like, but not anyone's handwriting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

logger = logging.getLogger(__name__)

# Sans-serif and script faces: handwriting has no typographic serifs (a "1" with a foot).
HERSHEY_FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX,
                 cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
                 cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
                 cv2.FONT_HERSHEY_DUPLEX | cv2.FONT_ITALIC]
INK_COLOURS_BGR = [(25, 25, 25), (120, 40, 20), (20, 20, 110), (40, 70, 20), (90, 30, 60),
                   (60, 60, 60)]


@dataclass
class SceneTruth:
    digits: list[int]
    boxes: list[list[int]]  # [x, y, w, h] around each digit's ink, reading order
    reading: str
    style: str
    conditions: dict = field(default_factory=dict)
    numbers: list[str] = field(default_factory=list)  # one string per written number


def _script_digit(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A non-MNIST digit glyph as a float mask (1 = ink), tightly cropped."""
    font = HERSHEY_FONTS[rng.integers(len(HERSHEY_FONTS))]
    scale = 3.0
    thickness = int(rng.integers(3, 8))
    canvas = np.zeros((160, 160), np.uint8)
    cv2.putText(canvas, str(digit), (30, 125), font, scale, 255, thickness, cv2.LINE_AA)
    # Elastic distortion: a smooth random displacement field.
    alpha, sigma = rng.uniform(3, 8), 9
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, canvas.shape).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, canvas.shape).astype(np.float32), (0, 0), sigma)
    dx *= alpha / (np.abs(dx).max() + 1e-6)
    dy *= alpha / (np.abs(dy).max() + 1e-6)
    grid_x, grid_y = np.meshgrid(np.arange(160, dtype=np.float32), np.arange(160, dtype=np.float32))
    warped = cv2.remap(canvas, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR)
    shear = rng.uniform(-0.25, 0.15)
    warped = cv2.warpAffine(warped, np.float32([[1, shear, -shear * 80], [0, 1, 0]]), (160, 160))
    ys, xs = np.nonzero(warped > 40)
    return warped[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255.0


def _mnist_digit(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image > 30)
    return image[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255.0


def _paper(height: int, width: int, rng: np.random.Generator, lined: bool) -> np.ndarray:
    tint = np.array([rng.uniform(200, 250), rng.uniform(205, 252), rng.uniform(210, 255)])
    paper = np.ones((height, width, 3), np.float32) * tint
    paper += rng.normal(0, 2.0, (height, width, 1))  # paper texture
    if lined:
        spacing = int(rng.integers(28, 44))
        offset = int(rng.integers(0, spacing))
        colour = np.array([200, 170, 140]) if rng.random() < 0.7 else np.array([150, 150, 150])
        for y in range(offset, height, spacing):
            paper[y:y + 1 + int(rng.random() < 0.3)] = colour
    return paper


def _lighting(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative light field: a gradient, a vignette and sometimes a soft shadow."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * xx / width + np.sin(angle) * yy / height)
    light = 1.0 - rng.uniform(0.0, 0.45) * (gradient - gradient.min()) / (np.ptp(gradient) + 1e-6)
    r2 = ((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2
    light *= 1.0 - rng.uniform(0, 0.5) * r2
    if rng.random() < 0.4:  # a shadow with a blurred edge, e.g. of a hand or a phone
        mask = np.zeros((height, width), np.float32)
        x0 = int(rng.uniform(-0.2, 0.7) * width)
        pts = np.array([[x0, 0], [x0 + int(rng.uniform(0.2, 0.6) * width), 0],
                        [x0 + int(rng.uniform(0.0, 0.6) * width), height], [x0, height]])
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(10, 40))
        light *= 1.0 - rng.uniform(0.2, 0.45) * mask
    return light[..., None]


def generate_scene(rng: np.random.Generator, digit_source: np.ndarray | None,
                   style: str = "mnist", width: int = 640, height: int = 480,
                   count: int | None = None, hard: bool = True) -> tuple[np.ndarray, SceneTruth]:
    """One BGR uint8 frame and its ground truth.

    ``digit_source`` holds uint8 MNIST images to draw from (``style="mnist"``).
    """
    count = int(rng.integers(1, 9)) if count is None else count
    rows = 1 if count <= 5 or rng.random() < 0.4 else 2
    per_row = [count] if rows == 1 else [(count + 1) // 2, count // 2]
    lined = bool(rng.random() < 0.35)
    paper = _paper(height, width, rng, lined)
    ink = np.array(INK_COLOURS_BGR[rng.integers(len(INK_COLOURS_BGR))], np.float32)
    alpha = np.zeros((height, width), np.float32)
    truth_digits, truth_boxes = [], []
    row_height = height / rows
    for row, n in enumerate(per_row):
        glyph_h = int(rng.uniform(0.30, 0.55) * row_height) if rows == 2 else \
            int(rng.uniform(0.18, 0.35) * height)
        glyphs = []
        for _ in range(n):
            digit = int(rng.integers(10))
            if style == "mnist":
                pool = np.flatnonzero(digit_source[1] == digit)
                mask = _mnist_digit(digit_source[0][pool[rng.integers(pool.size)]])
            else:
                mask = _script_digit(digit, rng)
            scale = glyph_h / mask.shape[0]
            w = max(2, int(round(mask.shape[1] * scale)))
            mask = cv2.resize(mask, (w, glyph_h), interpolation=cv2.INTER_LINEAR)
            pad = glyph_h // 3
            mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            centre = (mask.shape[1] / 2, mask.shape[0] / 2)
            mask = cv2.warpAffine(mask, cv2.getRotationMatrix2D(centre, rng.uniform(-8, 8), 1.0),
                                  (mask.shape[1], mask.shape[0]))
            glyphs.append((digit, mask, rng.uniform(0.12, 0.4) * glyph_h))
        # Shrink the row until it fits in 90 % of the width.
        def ink_extent(m):
            xs = np.nonzero((m > 0.25).any(axis=0))[0]
            return int(xs.min()), int(xs.max())
        total = sum(ink_extent(m)[1] - ink_extent(m)[0] + 1 + gap for _, m, gap in glyphs)
        if total > 0.9 * width:
            factor = 0.9 * width / total
            glyphs = [(d, cv2.resize(m, None, fx=factor, fy=factor), gap * factor)
                      for d, m, gap in glyphs]
            total *= factor
        y_centre = row_height * (row + 0.5) + rng.uniform(-0.08, 0.08) * row_height
        cursor = rng.uniform(0.03 * width, max(0.03 * width, width - total - 0.03 * width))
        for digit, mask, gap in glyphs:
            left, right = ink_extent(mask)
            x0 = int(cursor) - left
            y0 = int(y_centre - mask.shape[0] / 2 + rng.uniform(-0.05, 0.05) * mask.shape[0])
            sx0, sy0 = max(0, -x0), max(0, -y0)
            x0c, y0c = max(0, x0), max(0, y0)
            x1, y1 = min(width, x0 + mask.shape[1]), min(height, y0 + mask.shape[0])
            region = mask[sy0:sy0 + y1 - y0c, sx0:sx0 + x1 - x0c]
            alpha[y0c:y1, x0c:x1] = np.maximum(alpha[y0c:y1, x0c:x1], region)
            ys, xs = np.nonzero(region > 0.25)
            truth_digits.append(digit)
            truth_boxes.append([int(x0c + xs.min()), int(y0c + ys.min()),
                                int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)])
            cursor += right - left + 1 + gap
    conditions = {"lined": lined}
    strength = rng.uniform(0.75, 1.0)
    frame = paper * (1 - alpha[..., None] * strength) + ink * alpha[..., None] * strength
    frame *= _lighting(height, width, rng)
    if hard:
        blur = rng.uniform(0, 1.6)
        if blur > 0.3:
            frame = cv2.GaussianBlur(frame, (0, 0), blur)
        low, high = rng.uniform(0, 70), rng.uniform(180, 255)  # squeezed contrast
        frame = low + frame * (high - low) / 255.0
        frame += rng.normal(0, rng.uniform(1, 6), frame.shape)
        conditions.update(blur=round(float(blur), 2), contrast=[round(low), round(high)])
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    if hard and rng.random() < 0.7:
        quality = int(rng.integers(50, 95))
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        frame = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        conditions["jpeg_quality"] = quality
    # reading order: rows top to bottom, left to right
    order = sorted(range(len(truth_boxes)), key=lambda i: (
        int((truth_boxes[i][1] + truth_boxes[i][3] / 2) // row_height), truth_boxes[i][0]))
    digits = [truth_digits[i] for i in order]
    boxes = [truth_boxes[i] for i in order]
    numbers: dict[int, str] = {}  # each row is one number
    for i in order:
        row = int((truth_boxes[i][1] + truth_boxes[i][3] / 2) // row_height)
        numbers[row] = numbers.get(row, "") + str(truth_digits[i])
    return frame, SceneTruth(digits, boxes, "".join(map(str, digits)), style, conditions,
                             list(numbers.values()))
