"""Field scenes: a sheet photographed where it lies, with the conditions of real photos.

Each condition can be switched on, off or left to chance (:class:`FieldOptions`) and is
recorded per frame in the truth's ``conditions``. The page is drawn flat in its own
coordinates, then put into the frame by a homography: on a desk (sheet edges in view,
55-80 % of the frame) or filling the frame; rotated and tilted in perspective; lit by a
gradient and sometimes a hard shadow; dimmed; blurred by motion or defocus; compressed.
Ground-truth boxes are the axis-aligned boxes of each digit's ink in the frame.

Digits come from MNIST test images and from non-MNIST glyphs (OpenCV's Hershey fonts bent
by elastic distortion), mixed within a frame. Words beside numbers are Hershey text,
printed or script-like.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import cv2
import numpy as np

from edge.scenes import marks
from edge.scenes.paper import INK_COLOURS_BGR, SceneTruth, _mnist_digit, _script_digit

logger = logging.getLogger(__name__)

# Each condition's chance in a mixed frame; FieldOptions overrides any of them.
CONDITION_CHANCES = {
    "desk": 0.55, "ruled": 0.25, "grid": 0.15, "shadow": 0.3, "dim": 0.15,
    "motion_blur": 0.12, "defocus": 0.12, "tilt": 0.5, "underline": 0.15, "box": 0.1,
    "words": 0.3, "touching": 0.2, "pencil": 0.15, "small": 0.15, "jpeg": 0.7,
}
CONDITIONS = tuple(CONDITION_CHANCES)

WORDS = ["Sum =", "Total:", "kg", "No.", "cm", "Date", "km/h", "Room", "x", "=", "Tel.",
         "Page", "ok", "kWh", "Nr", "m3", "Qty:", "mm", "EUR", "+", "%"]
_WORD_FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
               cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC]


@dataclass
class FieldOptions:
    """``True`` forces a condition, ``False`` excludes it, ``None`` leaves it to chance."""
    desk: bool | None = None
    ruled: bool | None = None
    grid: bool | None = None
    shadow: bool | None = None
    dim: bool | None = None
    motion_blur: bool | None = None
    defocus: bool | None = None
    tilt: bool | None = None
    underline: bool | None = None
    box: bool | None = None
    words: bool | None = None
    touching: bool | None = None
    pencil: bool | None = None
    small: bool | None = None
    jpeg: bool | None = None

    def draw(self, rng: np.random.Generator) -> dict[str, bool]:
        chosen = {}
        for f in fields(self):
            forced = getattr(self, f.name)
            chance = rng.random()  # drawn always, so forcing one keeps the others' draws
            chosen[f.name] = bool(forced) if forced is not None else \
                bool(chance < CONDITION_CHANCES[f.name])
        if chosen["ruled"] and chosen["grid"]:
            chosen["grid"] = False
        if chosen["underline"] and chosen["box"]:
            chosen["box"] = False
        return chosen

    @classmethod
    def only(cls, *names: str) -> FieldOptions:
        """These conditions forced on, every other one off."""
        unknown = set(names) - set(CONDITIONS)
        if unknown:
            raise ValueError(f"unknown field conditions {sorted(unknown)}; known: "
                             f"{', '.join(CONDITIONS)}")
        return cls(**{name: name in names for name in CONDITIONS})


def _word_mask(text: str, height: int, rng: np.random.Generator) -> np.ndarray:
    """A word as a float ink mask about ``height`` pixels tall (cap height), cropped."""
    font = _WORD_FONTS[rng.integers(len(_WORD_FONTS))]
    thickness = int(rng.integers(2, 5))
    (w, h), base = cv2.getTextSize(text, font, 2.0, thickness)
    canvas = np.zeros((h + base + 20, w + 20), np.uint8)
    cv2.putText(canvas, text, (10, h + 10), font, 2.0, 255, thickness, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas > 40)
    mask = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255.0
    scale = height / max(h, 1)
    return cv2.resize(mask, (max(2, int(mask.shape[1] * scale)),
                             max(2, int(mask.shape[0] * scale))), interpolation=cv2.INTER_AREA)


def _desk(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A desk: flat or wood-like, darker than paper or of a strong colour."""
    kind = rng.integers(3)
    if kind == 0:  # wood: warped stripes
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        warp = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 25)
        warp *= 40 / (np.abs(warp).max() + 1e-6)
        angle = rng.uniform(0, np.pi)
        t = np.cos(angle) * xx + np.sin(angle) * yy + warp
        stripes = 0.5 + 0.5 * np.sin(t / rng.uniform(4, 12))
        base = np.array([rng.uniform(40, 90), rng.uniform(70, 130), rng.uniform(110, 180)])
        desk = base * (0.75 + 0.35 * stripes[..., None])
    elif kind == 1:  # flat gray or dark
        desk = np.ones((height, width, 3), np.float32) * rng.uniform(50, 150)
    else:  # a coloured mat
        desk = np.ones((height, width, 3), np.float32) * rng.uniform(30, 170, 3)
    desk += rng.normal(0, 4, (height, width, 1))
    return desk.astype(np.float32)


def _page_lines(page: np.ndarray, rng: np.random.Generator, ruled: bool, grid: bool) -> None:
    height, width = page.shape[:2]
    if ruled:
        spacing = int(rng.integers(34, 56))
        colour = np.array([210, 170, 130]) if rng.random() < 0.7 else np.array([160, 160, 160])
        for y in range(int(rng.integers(20, 60)), height, spacing):
            page[y:y + int(rng.integers(1, 3))] = colour
        margin = int(rng.uniform(0.08, 0.15) * width)  # the red margin line
        page[:, margin:margin + 2] = (90, 90, 220)
    if grid:
        spacing = int(rng.integers(24, 40))
        colour = np.array([215, 185, 150]) if rng.random() < 0.6 else np.array([170, 170, 170])
        for y in range(int(rng.integers(0, spacing)), height, spacing):
            page[y:y + 1] = colour
        for x in range(int(rng.integers(0, spacing)), width, spacing):
            page[:, x:x + 1] = colour


def _hand_line(alpha: np.ndarray, p0, p1, thickness: int, rng: np.random.Generator) -> None:
    """A slightly wavy hand-drawn line from p0 to p1 into ``alpha``."""
    n = 12
    t = np.linspace(0, 1, n)
    pts = np.outer(1 - t, p0) + np.outer(t, p1)
    normal = np.array([-(p1[1] - p0[1]), p1[0] - p0[0]], np.float32)
    normal /= np.linalg.norm(normal) + 1e-6
    wobble = np.cumsum(rng.normal(0, 0.6, n))
    wobble -= np.linspace(wobble[0], wobble[-1], n)
    pts += wobble[:, None] * normal
    layer = np.zeros(alpha.shape, np.uint8)
    cv2.polylines(layer, [np.round(pts).astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
    np.maximum(alpha, layer.astype(np.float32) / 255.0, out=alpha)


def _layout(rng, conditions, digit_source, page_w, page_h, region, digit_h):
    """Draw numbers (and words) into an alpha mask of the page. Returns the mask, the
    digits' own masks with their page offsets, and the numbers per line."""
    alpha = np.zeros((page_h, page_w), np.float32)
    x_min, y_min, x_max, y_max = region
    lines = max(1, min(int(rng.integers(1, 4)), int((y_max - y_min) / (1.7 * digit_h))))
    line_pitch = (y_max - y_min) / lines
    digits = []  # (digit, mask, x0, y0)
    numbers = []  # per number: list of indices into digits
    pen = max(2, int(digit_h * rng.uniform(0.07, 0.12)))
    for line in range(lines):
        y_centre = y_min + line_pitch * (line + 0.5) + rng.uniform(-0.1, 0.1) * line_pitch
        n_numbers = 1 if rng.random() < 0.6 else 2
        cursor = x_min + rng.uniform(0, 0.1) * (x_max - x_min)
        for _ in range(n_numbers):
            if conditions["words"] and rng.random() < 0.7:
                word = _word_mask(WORDS[rng.integers(len(WORDS))],
                                  int(digit_h * rng.uniform(0.6, 0.9)), rng)
                wy = int(y_centre - word.shape[0] / 2)
                if cursor + word.shape[1] < x_max and wy >= 0 and wy + word.shape[0] < page_h:
                    x = int(cursor)
                    region_ = alpha[wy:wy + word.shape[0], x:x + word.shape[1]]
                    np.maximum(region_, word, out=region_)
                    cursor += word.shape[1] + digit_h * rng.uniform(0.7, 1.2)
            count = int(rng.integers(1, 9))
            number, start = [], cursor
            top = bottom = None
            for k in range(count):
                digit = int(rng.integers(10))
                if digit_source is not None and rng.random() < 0.5:
                    pool = np.flatnonzero(digit_source[1] == digit)
                    mask = _mnist_digit(digit_source[0][pool[rng.integers(pool.size)]])
                else:
                    mask = _script_digit(digit, rng)
                h = int(digit_h * rng.uniform(0.9, 1.1))
                w = max(2, int(round(mask.shape[1] * h / mask.shape[0])))
                mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)
                if k:
                    if conditions["touching"]:
                        cursor -= rng.uniform(0.0, 0.15) * h
                    else:
                        cursor += rng.uniform(0.12, 0.45) * h
                x0, y0 = int(cursor), int(y_centre - h / 2 + rng.uniform(-0.06, 0.06) * h)
                if x0 + w >= x_max or y0 < 0 or y0 + h >= page_h:
                    break
                region_ = alpha[y0:y0 + h, x0:x0 + w]
                np.maximum(region_, mask, out=region_)
                digits.append((digit, mask, x0, y0))
                number.append(len(digits) - 1)
                cursor = x0 + w
                top = y0 if top is None else min(top, y0)
                bottom = y0 + h if bottom is None else max(bottom, y0 + h)
            if not number:
                break
            numbers.append(number)
            if conditions["underline"] and rng.random() < 0.8:
                y = bottom + rng.uniform(0.02, 0.15) * digit_h
                _hand_line(alpha, (start - 0.1 * digit_h, y), (cursor + 0.15 * digit_h, y),
                           pen, rng)
            if conditions["box"] and rng.random() < 0.8:
                m = rng.uniform(0.12, 0.3) * digit_h
                x0, x1, y0, y1 = start - m, cursor + m, top - m, bottom + m
                for p, q in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)),
                             ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
                    _hand_line(alpha, p, q, pen, rng)
            if conditions["words"] and rng.random() < 0.5:
                cursor += digit_h * rng.uniform(0.6, 1.0)
                word = _word_mask(WORDS[rng.integers(len(WORDS))],
                                  int(digit_h * rng.uniform(0.5, 0.9)), rng)
                wy = int(y_centre + digit_h / 2 - word.shape[0])
                if cursor + word.shape[1] < x_max and wy >= 0:
                    x = int(cursor)
                    region_ = alpha[wy:wy + word.shape[0], x:x + word.shape[1]]
                    np.maximum(region_, word, out=region_)
                    cursor += word.shape[1]
            cursor += digit_h * rng.uniform(1.6, 3.0)
    return alpha, digits, numbers


# Pen marks on a negative page. Ruled-line and grid fragments are what line removal leaves
# of the paper's own lines, taught as crops (train/negatives.py), not drawn in pen here.
PAGE_MARKS = ("letter", "word", "symbol", "tick", "cross_out", "scribble")


def _marks_layout(rng, conditions, page_w, page_h, region, digit_h):
    """Lines of words, letters, symbols and pen marks, and no digit: a negative page.
    Underlines and boxes (when those conditions are on) go round some of them."""
    alpha = np.zeros((page_h, page_w), np.float32)
    x_min, y_min, x_max, y_max = region
    lines = max(1, min(int(rng.integers(1, 4)), int((y_max - y_min) / (1.7 * digit_h))))
    line_pitch = (y_max - y_min) / lines
    pen = max(2, int(digit_h * rng.uniform(0.07, 0.12)))
    for line in range(lines):
        y_centre = y_min + line_pitch * (line + 0.5) + rng.uniform(-0.1, 0.1) * line_pitch
        cursor = x_min + rng.uniform(0, 0.1) * (x_max - x_min)
        for _ in range(int(rng.integers(2, 6))):
            if rng.random() < 0.5:
                mask = _word_mask(WORDS[rng.integers(len(WORDS))],
                                  int(digit_h * rng.uniform(0.5, 0.9)), rng)
            else:
                mask = marks.random_mark(rng, PAGE_MARKS)[1]
                h = int(digit_h * rng.uniform(0.4, 1.0))
                w = max(2, int(round(mask.shape[1] * h / max(mask.shape[0], 1))))
                mask = cv2.resize(mask, (min(w, 6 * h), h), interpolation=cv2.INTER_AREA)
            y0 = int(y_centre - mask.shape[0] / 2)
            x0 = int(cursor)
            if x0 + mask.shape[1] >= x_max or y0 < 0 or y0 + mask.shape[0] >= page_h:
                break
            region_ = alpha[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
            np.maximum(region_, mask, out=region_)
            if conditions["underline"] and rng.random() < 0.4:
                y = y0 + mask.shape[0] + rng.uniform(0.02, 0.15) * digit_h
                _hand_line(alpha, (x0 - 0.1 * digit_h, y), (x0 + mask.shape[1], y), pen, rng)
            if conditions["box"] and rng.random() < 0.4:
                m = rng.uniform(0.12, 0.3) * digit_h
                bx0, bx1 = x0 - m, x0 + mask.shape[1] + m
                by0, by1 = y0 - m, y0 + mask.shape[0] + m
                for p, q in (((bx0, by0), (bx1, by0)), ((bx1, by0), (bx1, by1)),
                             ((bx1, by1), (bx0, by1)), ((bx0, by1), (bx0, by0))):
                    _hand_line(alpha, p, q, pen, rng)
            cursor = x0 + mask.shape[1] + digit_h * rng.uniform(0.5, 2.0)
    return alpha, [], []


def _lighting(height, width, rng, shadow: bool) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * xx / width + np.sin(angle) * yy / height
    light = 1.0 - rng.uniform(0.0, 0.4) * (gradient - gradient.min()) / (np.ptp(gradient) + 1e-6)
    if shadow:  # a hard-edged shadow (a hand, a phone) crossing the page
        mask = np.zeros((height, width), np.float32)
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        theta = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(theta), np.sin(theta)])
        normal = np.array([-direction[1], direction[0]])
        big = 3 * max(width, height)
        centre = np.array([cx, cy])
        pts = [centre + big * direction, centre - big * direction,
               centre - big * direction + big * normal, centre + big * direction + big * normal]
        if rng.random() < 0.5:  # a finger-like band instead of a half-plane
            pts = [centre + big * direction, centre - big * direction,
                   centre - big * direction + rng.uniform(0.15, 0.35) * width * normal,
                   centre + big * direction + rng.uniform(0.15, 0.35) * width * normal]
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.8, 3.0))
        light *= 1.0 - rng.uniform(0.35, 0.6) * mask
    return light[..., None]


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return kernel / kernel.sum()


def generate_field(rng: np.random.Generator, digit_source, options: FieldOptions | None = None,
                   width: int = 640, height: int = 480, negative: bool = False
                   ) -> tuple[np.ndarray, SceneTruth]:
    """One BGR uint8 field frame and its ground truth (with ``numbers`` and ``conditions``).
    ``negative``: words, letters, symbols and marks on the page and no digit at all."""
    options = options or FieldOptions()
    conditions = options.draw(rng)
    for _ in range(20):
        result = _try_field(rng, digit_source, conditions, width, height, negative)
        if result is not None:
            return result
    raise RuntimeError("could not lay out a field scene in 20 tries")


def _try_field(rng, digit_source, conditions, width, height, negative=False):
    page_w = int(rng.integers(900, 1100))
    page_h = int(page_w * rng.uniform(0.68, 0.85))
    # The page's place in the frame: its four corners.
    if conditions["desk"]:
        fill = rng.uniform(0.55, 0.8)
        quad_w = fill * width
        quad_h = min(quad_w * page_h / page_w, 0.92 * height)
        quad_w = quad_h * page_w / page_h
    else:
        quad_w, quad_h = width * rng.uniform(1.25, 1.5), height * rng.uniform(1.25, 1.5)
    corners = np.array([[-quad_w / 2, -quad_h / 2], [quad_w / 2, -quad_h / 2],
                        [quad_w / 2, quad_h / 2], [-quad_w / 2, quad_h / 2]], np.float32)
    rotation = rng.uniform(-15, 15) if conditions["tilt"] else rng.uniform(-3, 3)
    c, s = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
    corners = corners @ np.array([[c, s], [-s, c]], np.float32)
    if conditions["tilt"]:  # perspective: one side nearer the camera
        jitter = 0.12 * min(quad_w, quad_h)
        corners += rng.uniform(-jitter, jitter, corners.shape).astype(np.float32)
    shift = np.array([rng.uniform(-0.06, 0.06) * width, rng.uniform(-0.05, 0.05) * height])
    corners += np.array([width / 2, height / 2], np.float32) + shift.astype(np.float32)
    page_corners = np.array([[0, 0], [page_w, 0], [page_w, page_h], [0, page_h]], np.float32)
    homography = cv2.getPerspectiveTransform(page_corners, corners)
    if not conditions["desk"] and any(
            cv2.pointPolygonTest(corners.reshape(-1, 1, 2), (float(x), float(y)), False) < 0
            for x, y in ((0, 0), (width, 0), (width, height), (0, height))):
        return None  # the page must fill the frame when no desk is in view
    scale = quad_h / page_h  # frame pixels per page pixel, about
    # Where the frame is, in page coordinates: the layout stays inside it.
    frame_in_page = cv2.perspectiveTransform(
        np.array([[[0, 0], [width, 0], [width, height], [0, height]]], np.float32),
        np.linalg.inv(homography))[0]
    x_min = max(0.06 * page_w, float(np.sort(frame_in_page[:, 0])[1]) + 0.05 * page_w)
    x_max = min(0.94 * page_w, float(np.sort(frame_in_page[:, 0])[2]) - 0.05 * page_w)
    y_min = max(0.08 * page_h, float(np.sort(frame_in_page[:, 1])[1]) + 0.05 * page_h)
    y_max = min(0.92 * page_h, float(np.sort(frame_in_page[:, 1])[2]) - 0.05 * page_h)
    if x_max - x_min < 0.3 * page_w or y_max - y_min < 0.2 * page_h:
        return None
    frame_digit_h = rng.uniform(16, 30) if conditions["small"] else rng.uniform(32, 90)
    digit_h = int(frame_digit_h / scale)
    digit_h = min(digit_h, int((y_max - y_min) / 1.5))
    # Page
    tint = np.array([rng.uniform(215, 250), rng.uniform(220, 252), rng.uniform(225, 255)])
    page = np.ones((page_h, page_w, 3), np.float32) * tint
    page += rng.normal(0, 2.0, (page_h, page_w, 1))
    _page_lines(page, rng, conditions["ruled"], conditions["grid"])
    region = (x_min, y_min, x_max, y_max)
    if negative:
        alpha, digits, numbers = _marks_layout(rng, conditions, page_w, page_h, region,
                                               digit_h)
    else:
        alpha, digits, numbers = _layout(rng, conditions, digit_source, page_w, page_h,
                                         region, digit_h)
        if not digits:
            return None
    if conditions["pencil"]:
        gray = rng.uniform(95, 150)
        ink = np.array([gray, gray, gray * 1.02], np.float32)
        strength = rng.uniform(0.55, 0.8)
    else:
        ink = np.array(INK_COLOURS_BGR[rng.integers(len(INK_COLOURS_BGR))], np.float32)
        strength = rng.uniform(0.8, 1.0)
    page = page * (1 - alpha[..., None] * strength) + ink * alpha[..., None] * strength
    # Into the frame
    background = _desk(height, width, rng) if conditions["desk"] else \
        np.zeros((height, width, 3), np.float32)
    warped = cv2.warpPerspective(page, homography, (width, height), flags=cv2.INTER_AREA
                                 if scale < 1 else cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.ones((page_h, page_w), np.float32), homography,
                                (width, height))[..., None]
    frame = warped * cover + background * (1 - cover)
    # Truth boxes
    truth_digits, truth_boxes = [], []
    for digit, mask, x0, y0 in digits:
        ys, xs = np.nonzero(mask > 0.3)
        points = np.stack([xs + x0 + 0.5, ys + y0 + 0.5], axis=1).astype(np.float32)
        mapped = cv2.perspectiveTransform(points[None], homography)[0]
        bx0, by0 = np.floor(mapped.min(axis=0)).astype(int)
        bx1, by1 = np.ceil(mapped.max(axis=0)).astype(int)
        if bx0 < 0 or by0 < 0 or bx1 > width or by1 > height:
            return None
        truth_digits.append(digit)
        truth_boxes.append([int(bx0), int(by0), int(bx1 - bx0), int(by1 - by0)])
    # Light, camera
    frame *= _lighting(height, width, rng, conditions["shadow"])
    if conditions["motion_blur"]:
        frame = cv2.filter2D(frame, -1, _motion_kernel(int(rng.integers(3, 10)),
                                                       rng.uniform(0, np.pi)))
    if conditions["defocus"]:
        frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(1.0, 2.2))
    else:
        frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.3, 0.8))
    if conditions["dim"]:
        low = rng.uniform(5, 30)
        frame = low + frame * rng.uniform(0.22, 0.3)
        noise = rng.uniform(8, 15)
    else:
        low, high = rng.uniform(0, 40), rng.uniform(200, 255)
        frame = low + frame * (high - low) / 255.0
        noise = rng.uniform(1, 5)
    frame += rng.normal(0, noise, (height, width, 1)) + rng.normal(0, noise / 3, frame.shape)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    record = {name: value for name, value in conditions.items() if value}
    if conditions["jpeg"]:
        quality = int(rng.integers(50, 96))
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        frame = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        record["jpeg"] = quality
    record["rotation"] = round(float(rotation), 1)
    record["digit_height"] = round(float(np.median([b[3] for b in truth_boxes]))
                                   if truth_boxes else frame_digit_h, 1)
    # Numbers in reading order: lines were laid out top to bottom, left to right.
    number_strings = ["".join(str(truth_digits[i]) for i in number) for number in numbers]
    reading = "".join(number_strings)
    return frame, SceneTruth(truth_digits, truth_boxes, reading,
                             "negatives" if negative else "field", record, number_strings)
