"""Find every digit in a frame: background removal, thresholding, components, merging.

Pure functions over numpy arrays; no I/O. The core is :func:`locate`, which returns the
digits in reading order (rows top to bottom, left to right) with their boxes and ink.
"""

from __future__ import annotations

import functools
import logging
import math
import statistics
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocateSettings:
    """How digits are found. ``digitcam calibrate`` fits these per camera."""
    threshold: str = "otsu"  # "otsu", "percentile" or "fixed"
    percentile: float = 97.0  # for "percentile": the share of the frame that is paper
    fixed_level: int = 60  # ink level for "fixed" (0..255 of the ink map)
    min_contrast: int = 28  # ink must be at least this much darker than the paper (0..255)
    min_height: float = 0.05  # digits shorter than this fraction of the frame are specks
    max_height: float = 0.95
    max_aspect: float = 2.2  # wider than this times the height: a line, not a digit
    max_digits: int = 12
    work_height: int = 240  # digits are searched at about this many rows
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h of the part to read


@dataclass
class Digit:
    box: tuple[int, int, int, int]  # x, y, w, h in frame coordinates, around the ink
    ink: np.ndarray  # uint8: the digit's own ink (ink bright, other digits blanked), at
    #                  the search resolution, or the frame's own for small digits


def ink_map(gray: np.ndarray, paper_scale: int = 4) -> np.ndarray:
    """uint8 image where ink is bright and paper is ~0, independent of uneven light.

    The paper's brightness is estimated by a morphological closing at 1/``paper_scale``
    of the resolution, over a sixth of the frame: strokes thinner than the kernel
    disappear, while the edge of a shadow stays where it is (a plain max filter would
    smear the bright side over the dark one and make the shadow look like ink). Each
    pixel's darkness is measured relative to it.
    """
    height, width = gray.shape
    small = cv2.resize(gray, (max(1, width // paper_scale), max(1, height // paper_scale)),
                       interpolation=cv2.INTER_AREA)
    size = max(3, (min(small.shape) // 6) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    paper = cv2.blur(paper, (3, 3))
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    paper = cv2.max(paper, gray)
    darkness = cv2.subtract(paper, gray)
    return cv2.divide(darkness, paper, scale=255)  # OpenCV gives 0 where paper is 0


def threshold_level(ink: np.ndarray, settings: LocateSettings) -> float:
    """The ink level that separates strokes from paper in an ink map."""
    if settings.threshold == "fixed":
        level = settings.fixed_level
    elif settings.threshold == "percentile":
        level = float(np.percentile(ink, settings.percentile))
    else:
        level, _ = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(float(level), float(settings.min_contrast))


def remove_lines(binary: np.ndarray) -> np.ndarray:
    """Remove long thin horizontal and vertical lines (ruled paper, table borders), but
    not the strokes that cross them."""
    height, width = binary.shape
    # Only lines far longer than any digit: a third of the width, or 70 % of the height.
    row_length, column_length = max(15, width // 3), max(15, int(height * 0.7))
    # Ink per row and per column (cv2.reduce is several times faster than numpy here).
    row_ink = cv2.reduce(binary, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
    column_ink = cv2.reduce(binary, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
    rows = np.flatnonzero(row_ink >= row_length)
    columns = np.flatnonzero(column_ink >= column_length)
    if not (rows.size or columns.size):
        return binary
    removed = np.zeros_like(binary)
    if rows.size:
        removed |= _row_line_pixels(binary, rows, row_length)
    if columns.size:  # columns are the rows of the transposed image
        removed |= _row_line_pixels(np.ascontiguousarray(binary.T), columns,
                                    column_length).T
    return binary & ~removed


# Rows of context the openings below need on each side of a line row: the 5x1 opening
# reaches 2 rows for its erosion and 2 more for its dilation.
_LINE_CONTEXT = 4
_SQUARE_3 = np.ones((3, 3), np.uint8)  # thick ink survives an opening by this
_COLUMN_5 = np.ones((5, 1), np.uint8)  # ink that runs on across a line survives this


def _row_line_pixels(binary: np.ndarray, rows: np.ndarray, length: int) -> np.ndarray:
    """The pixels of horizontal lines at least ``length`` long on ``rows`` (the rows that
    hold that much ink at all: an opening by a one-row kernel treats each row on its own),
    less thick ink and ink that runs on across the line (a stroke crossing a ruled line,
    however thin, continues above and below it).

    The openings that find thick and crossing ink run only on bands of rows around
    ``rows``, with enough context that the result equals opening the whole image (a
    fifth of the work on ruled paper).
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    lines = np.zeros_like(binary)
    lines[rows] = cv2.morphologyEx(binary[rows], cv2.MORPH_OPEN, kernel)
    # Bands of line rows whose context overlaps are processed together.
    breaks = np.flatnonzero(np.diff(rows) > 2 * _LINE_CONTEXT + 1) + 1
    for band in np.split(rows, breaks):
        start = max(0, int(band[0]) - _LINE_CONTEXT)
        stop = min(binary.shape[0], int(band[-1]) + _LINE_CONTEXT + 1)
        context = binary[start:stop]
        thick = cv2.morphologyEx(context, cv2.MORPH_OPEN, _SQUARE_3)
        crossing = cv2.morphologyEx(context, cv2.MORPH_OPEN, _COLUMN_5)
        keep = ~(thick | crossing)[band - start]
        lines[band] &= keep
    return lines


def _merge_groups(stats: np.ndarray, candidates: list[int]
                  ) -> list[tuple[list[int], list[int]]]:
    """Group components that belong to one digit: strongly overlapping in x and close in y
    (a broken stroke, the bar of a 5 or a 7), or a small piece inside a digit's box.

    A sliver (one or two rows tall, what is left of a ruled line after thresholding) only
    joins a group whose box already holds it: slivers chained one to the next would
    otherwise grow a digit's box across the whole page.

    Returns each group's component labels with its box ``[x, y, w, h]``.
    """
    groups = [[c] for c in candidates]
    boxes = [stats[c, :4].tolist() for c in candidates]
    slivers = [bool(stats[c, 3] <= 2 < stats[c, 2]) for c in candidates]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                xi, yi, wi, hi = boxes[i]
                xj, yj, wj, hj = boxes[j]
                if slivers[i] or slivers[j]:
                    sliver, other = (boxes[i], boxes[j]) if slivers[i] else (boxes[j], boxes[i])
                    if slivers[i] and slivers[j] or not _holds(other, sliver, margin=1):
                        continue
                else:
                    overlap_x = min(xi + wi, xj + wj) - max(xi, xj)
                    gap_y = max(yi, yj) - min(yi + hi, yj + hj)
                    if not (overlap_x > 0.6 * min(wi, wj) and gap_y < 0.25 * max(hi, hj)):
                        continue
                x0, y0 = min(xi, xj), min(yi, yj)
                x1, y1 = max(xi + wi, xj + wj), max(yi + hi, yj + hj)
                boxes[i] = [x0, y0, x1 - x0, y1 - y0]
                groups[i] += groups[j]
                slivers[i] = slivers[i] and slivers[j]
                del groups[j], boxes[j], slivers[j]
                merged = True
                break
            if merged:
                break
    return list(zip(groups, boxes, strict=True))


def _holds(outer: list[int], inner: list[int], margin: int = 0) -> bool:
    """Whether box ``outer`` (x, y, w, h), grown by ``margin``, contains box ``inner``."""
    (xo, yo, wo, ho), (xi, yi, wi, hi) = outer, inner
    return (xo - margin <= xi and xi + wi <= xo + wo + margin
            and yo - margin <= yi and yi + hi <= yo + ho + margin)


def is_blob(mask: np.ndarray, area: int | None = None, gray: np.ndarray | None = None,
            origin: tuple[int, int] = (0, 0)) -> bool:
    """A filled patch (a smudge, a fingertip, a dark sticker), not a written digit.

    Dense ink alone does not make a blob: a bold 0, 6, 8 or 9 fills three quarters of its
    box but keeps a hole, a bold 2, 5 or 7 has bays that its convex hull bridges, and a
    straight 1 fills nearly all of its narrow box. A patch larger than the ink map's
    paper estimate shows only its outline, a ring; ``gray`` (the frame, in which the
    mask's box starts at ``origin`` = (x, y)) tells that ring from a 0: inside a 0 is
    paper, inside the ring is as dark as ink.
    """
    h, w = mask.shape
    area = int(np.count_nonzero(mask)) if area is None else area
    # Holes: background pixels that a flood fill from outside the box cannot reach.
    outside = cv2.copyMakeBorder((~mask).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT,
                                 value=1)
    cv2.floodFill(outside, None, (0, 0), 0)
    holes = outside[1:-1, 1:-1].view(bool)
    hole_area = int(np.count_nonzero(holes))
    if hole_area >= 0.02 * w * h:
        if gray is None or hole_area < 0.3 * w * h:
            return False  # the loop of a 6, 8 or 9 is small, and blur greys it
        x, y = origin
        paper_level = _level_around(gray, x, y, x + w, y + h)
        if paper_level is None:
            return False
        box = gray[y:y + h, x:x + w]
        ink_level = float(box[mask].mean())
        return paper_level - float(box[holes].mean()) > 0.5 * (paper_level - ink_level)
    if area <= 0.7 * w * h or w < 0.5 * h:
        return False
    contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    hull_area = cv2.contourArea(cv2.convexHull(np.concatenate(contours)))
    return area >= 0.9 * hull_area  # solid: no bays either


def _level_around(gray: np.ndarray, x0: int, y0: int, x1: int, y1: int,
                  pad: int = 2) -> float | None:
    """Mean of the ``pad``-pixel frame just outside the box ``[x0, x1) x [y0, y1)``."""
    outer = gray[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]
    ring = outer.size - (y1 - y0) * (x1 - x0)
    if ring <= 0:
        return None
    total = float(outer.sum(dtype=np.int64)) - float(gray[y0:y1, x0:x1].sum(dtype=np.int64))
    return total / ring


def reading_order(boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """Indices of ``boxes`` in reading order: rows top to bottom, then left to right."""
    if not boxes:
        return []
    centres = [y + h / 2 for _, y, _, h in boxes]
    tolerance = 0.5 * statistics.median(h for *_, h in boxes)
    rows: list[list[int]] = []
    row_centre = 0.0
    for i in sorted(range(len(boxes)), key=centres.__getitem__):
        if rows and abs(centres[i] - row_centre) <= tolerance:
            rows[-1].append(i)
            row_centre += (centres[i] - row_centre) / len(rows[-1])  # running mean
        else:
            rows.append([i])
            row_centre = centres[i]
    return [i for row in rows for i in sorted(row, key=lambda k: boxes[k][0])]


def _refine(ink: np.ndarray, box: tuple[int, int, int, int], coarse_mask: np.ndarray,
            level: float, factor: int) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Full-resolution box and mask of a digit found at 1/``factor`` resolution.

    The coarse mask grows by one coarse pixel (``factor`` full-resolution pixels, what
    the downscaling may have cut off) and is scaled up; the digit is the ink inside it.
    """
    x, y, w, h = box
    height, width = ink.shape
    grown = cv2.dilate(cv2.copyMakeBorder(coarse_mask.astype(np.uint8), 1, 1, 1, 1,
                                          cv2.BORDER_CONSTANT, value=0),
                       np.ones((3, 3), np.uint8))
    if factor > 1:
        grown = cv2.resize(grown, (grown.shape[1] * factor, grown.shape[0] * factor),
                           interpolation=cv2.INTER_NEAREST)
    gx, gy = x - factor, y - factor  # frame position of grown[0, 0]
    x0, y0 = max(0, gx), max(0, gy)
    x1, y1 = min(width, gx + grown.shape[1]), min(height, gy + grown.shape[0])
    inside = grown[y0 - gy:y1 - gy, x0 - gx:x1 - gx].view(bool)
    ink_here = (ink[y0:y1, x0:x1] >= level) & inside
    ys = np.flatnonzero(ink_here.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(ink_here.any(axis=0))
    fine = ink_here[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]
    return (x0 + int(xs[0]), y0 + int(ys[0]), int(xs[-1] - xs[0] + 1),
            int(ys[-1] - ys[0] + 1)), fine


def cut_digit(ink: np.ndarray, box: tuple[int, int, int, int], mask: np.ndarray) -> np.ndarray:
    """The ink of one digit: its box of the ink map, other components blanked.

    The mask only has to keep other digits out: it is grown well past the stroke edges
    (so faint pixels at and inside a stroke are not punched out).
    """
    x, y, w, h = box
    grow = max(3, (max(h, w) // 12) | 1)
    return ink[y:y + h, x:x + w] * cv2.dilate(mask.view(np.uint8), _ellipse(grow))


@functools.lru_cache(maxsize=64)
def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


# A digit at least this tall or wide at the search resolution is cut from there: MNIST's
# box is 20 pixels, so the full resolution would add nothing but time.
SEARCH_RESOLUTION_ENOUGH = 28


def locate(gray: np.ndarray, settings: LocateSettings | None = None) -> list[Digit]:
    """Digits of a grayscale frame, in reading order, each with its own ink.

    The search runs at about ``settings.work_height`` rows (a 640x480 frame is searched
    at 320x240) on an ink map made at that resolution. Digits large enough are cut from
    it; small ones are refined and cut from a full-resolution ink map.
    """
    settings = settings or LocateSettings()
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError("locate() needs a 2-D uint8 grayscale frame")
    offset_x = offset_y = 0
    gray_work = gray
    if settings.roi is not None:
        x, y, w, h = settings.roi
        gray_work = gray[y:y + h, x:x + w]
        offset_x, offset_y = x, y
    factor = max(1, gray_work.shape[0] // settings.work_height)
    small_size = (gray_work.shape[1] // factor, gray_work.shape[0] // factor)
    small_gray = gray_work if factor == 1 else cv2.resize(gray_work, small_size,
                                                          interpolation=cv2.INTER_AREA)
    # The paper estimate keeps its scale: a quarter of the frame's resolution.
    small = ink_map(small_gray, paper_scale=max(1, 4 // factor))
    full_ink = None  # made only when a small digit needs it
    level = threshold_level(small, settings)
    # ink >= level, as 0/255 (the ink map is integer: ">= level" is "> ceil(level) - 1")
    _, binary = cv2.threshold(small, math.ceil(level) - 1, 255, cv2.THRESH_BINARY)
    binary = remove_lines(binary)
    # Grana's algorithm: three times faster than OpenCV's default here, same labels.
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        binary, 8, cv2.CV_32S, cv2.CCL_GRANA)
    height = small.shape[0]
    min_h, max_h = settings.min_height * height, settings.max_height * height
    min_piece = max(3, int(min_h * 0.08) ** 2)
    candidates = (np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_piece) + 1).tolist()
    digits, boxes = [], []
    for group, (xs0, ys0, w, h) in _merge_groups(stats, candidates):
        xs1, ys1 = xs0 + w, ys0 + h
        if not (min_h <= h <= max_h) or w > settings.max_aspect * h:
            continue
        touches_edge = xs0 == 0 or ys0 == 0 or xs1 == small.shape[1] or ys1 == height
        area = int(stats[group, cv2.CC_STAT_AREA].sum())
        if touches_edge and h > 0.5 * height:
            continue  # the frame's own border or a shadow edge, not a stroke
        region = labels[ys0:ys1, xs0:xs1]
        mask = region == group[0] if len(group) == 1 else np.isin(region, group)
        if cv2.mean(small[ys0:ys1, xs0:xs1], mask.view(np.uint8))[0] < 1.2 * level:
            continue  # barely above the threshold throughout: a soft shadow edge, no stroke
        if is_blob(mask, area, small_gray, (xs0, ys0)):
            continue
        if factor == 1 or max(w, h) >= SEARCH_RESOLUTION_ENOUGH:
            ink = cut_digit(small, (xs0, ys0, w, h), mask)
            box = (xs0 * factor, ys0 * factor, w * factor, h * factor)
        else:
            if full_ink is None:
                full_ink = ink_map(gray_work)
            refined = _refine(full_ink, (xs0 * factor, ys0 * factor, w * factor, h * factor),
                              mask, level, factor)
            if refined is None:
                continue
            box, fine = refined
            ink = cut_digit(full_ink, box, fine)
        bx, by, bw, bh = box
        digits.append(Digit((int(bx + offset_x), int(by + offset_y), int(bw), int(bh)), ink))
        boxes.append(digits[-1].box)
    if digits:
        # Specks that survived: much smaller than the typical digit of this frame.
        typical = statistics.median(b[3] for b in boxes)
        keep = [i for i, b in enumerate(boxes) if b[3] >= 0.45 * typical]
        digits = [digits[i] for i in keep]
        boxes = [boxes[i] for i in keep]
    order = reading_order(boxes)[:settings.max_digits]
    return [digits[i] for i in order]
