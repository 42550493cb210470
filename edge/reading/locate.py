"""Find every digit in a frame: the sheet, the light, the lines, then the components.

Pure functions over numpy arrays; no I/O. The core is :func:`locate`, which returns the
digits in reading order (lines top to bottom, left to right) with their boxes in the
frame's pixels and their own ink. The stages it runs, each in its own module:

1. :mod:`edge.reading.page` — the sheet, if its edges are in view, rectified;
2. :mod:`edge.reading.light` — noise measured and smoothed, an ink map free of shadows;
3. :mod:`edge.reading.lines` — the view turned level, ruled lines, underlines, boxes gone;
4. here — connected components, grouped into digits, specks and blobs dropped.

Every step does bounded work whatever the frame holds: at most ``max_components``
components are considered, grouping runs a bounded number of vectorised rounds, and
:class:`LocateWork` counts what was done (tests check it; the benchmark times it).
"""

from __future__ import annotations

import functools
import logging
import math
import statistics
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.reading.light import denoise, ink_map, noise_floor, noise_sigma, threshold_level
from edge.reading.lines import remove_lines, remove_local_lines, skew_angle
from edge.reading.numbers import lines_of
from edge.reading.page import find_page, page_to_frame, sheet_mask
from edge.reading.view import View

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocateSettings:
    """How digits are found. ``digitcam calibrate`` fits these per camera."""
    threshold: str = "otsu"  # "otsu", "percentile" or "fixed"
    percentile: float = 97.0  # for "percentile": the share of the frame that is paper
    fixed_level: int = 60  # ink level for "fixed" (0..255 of the ink map)
    min_contrast: int = 28  # ink must be at least this much darker than the paper (0..255)
    min_height: float = 0.028  # digits shorter than this fraction of the view are specks
    max_height: float = 0.95
    max_aspect: float = 6.0  # wider than this times the height: a line, not a digit
    max_digits: int = 40
    work_height: int = 240  # digits are searched at about this many rows
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h of the part to read
    find_page: bool = True  # rectify a sheet whose edges are in view
    straighten: bool = True  # turn the view level when long lines run at an angle
    max_components: int = 160  # only the largest this many components are considered


@dataclass
class LocateWork:
    """What one call of :func:`locate` did: the bound on its work, made visible."""
    components: int = 0  # connected components in the binary image
    considered: int = 0  # of them, the ones large enough and within max_components
    local_line_checks: int = 0
    merge_rounds: int = 0
    pair_tests: int = 0  # box pairs compared while grouping
    page_found: bool = False
    sheet_masked: bool = False  # a sheet cut by the frame's edge, read inside its outline
    angle: float = 0.0
    noise: float = 0.0


@dataclass
class Placement:
    """Where a view lies in the frame: shared by the digits found in it."""
    view: View
    frame_size: tuple[int, int]  # width, height of the part of the frame read
    offset: tuple[int, int] = (0, 0)  # of that part (the region of interest) in the frame

    def box_in_frame(self, view_box, ink) -> tuple[int, int, int, int]:
        if self.view.is_identity:
            x, y, w, h = view_box
        else:
            x, y, w, h = self.view.box_in_frame(view_box, ink, self.frame_size)
        return (int(x + self.offset[0]), int(y + self.offset[1]), int(w), int(h))


@dataclass
class Digit:
    box: tuple[int, int, int, int]  # x, y, w, h in frame coordinates, around the ink
    ink: np.ndarray  # uint8: the digit's own ink (ink bright, other digits blanked), at
    #                  the search resolution, or the view's full one for small digits
    view_box: tuple[int, int, int, int] | None = None  # the same box in the view
    placement: Placement | None = field(default=None, repr=False)


MAX_MERGE_ROUNDS = 8
LONER = 0.45  # a component wider or taller than this share of the view joins no group
SOFT_EDGE = 1.2  # a group whose mean ink is under this times the threshold is a soft edge
MIN_TURN = 2.5  # degrees: smaller tilts are read as they are
MAX_LOCAL_LINE_CHECKS = 24


def _merge_groups(stats: np.ndarray, candidates: list[int], work: LocateWork | None = None,
                  shape: tuple[int, int] | None = None) -> list[tuple[list[int], list[int]]]:
    """Group components that belong to one digit: strongly overlapping in x and close in y
    (a broken stroke, the bar of a 5 or a 7), or a small piece inside a digit's box.

    A sliver (one or two rows tall, what is left of a ruled line after thresholding) only
    joins a group whose box already holds it: slivers chained one to the next would
    otherwise grow a digit's box across the whole page. A component spanning more than
    ``LONER`` of the image (``shape``) in either direction (wood grain, a desk's pattern,
    a shadow's edge) joins nothing: its box would swallow every digit near it.

    Each round compares all pairs at once (numpy) and joins every connected set; grown
    boxes are compared again in the next round, for at most ``MAX_MERGE_ROUNDS`` rounds.
    Returns each group's component labels with its box ``[x, y, w, h]``.
    """
    work = work if work is not None else LocateWork()
    groups = [[c] for c in candidates]
    boxes = stats[candidates, :4].astype(np.int64).reshape(-1, 4)
    slivers = (boxes[:, 3] <= 2) & (boxes[:, 2] > 2)
    loners = np.zeros(len(groups), bool)
    if shape is not None:
        loners = (boxes[:, 3] > LONER * shape[0]) | (boxes[:, 2] > LONER * shape[1])
    for _ in range(MAX_MERGE_ROUNDS):
        n = len(groups)
        if n < 2:
            break
        work.merge_rounds += 1
        work.pair_tests += n * n
        x, y, w, h = (boxes[:, k] for k in range(4))
        x1, y1 = x + w, y + h
        overlap_x = np.minimum(x1[:, None], x1[None, :]) - np.maximum(x[:, None], x[None, :])
        gap_y = np.maximum(y[:, None], y[None, :]) - np.minimum(y1[:, None], y1[None, :])
        join = (overlap_x > 0.6 * np.minimum(w[:, None], w[None, :])) & \
            (gap_y < 0.25 * np.maximum(h[:, None], h[None, :]))
        # i holds j (grown by one pixel)
        holds = ((x[:, None] - 1 <= x[None, :]) & (x1[None, :] <= x1[:, None] + 1)
                 & (y[:, None] - 1 <= y[None, :]) & (y1[None, :] <= y1[:, None] + 1))
        one_sliver = slivers[:, None] ^ slivers[None, :]
        sliver_join = one_sliver & ((slivers[None, :] & holds) | (slivers[:, None] & holds.T))
        any_sliver = slivers[:, None] | slivers[None, :]
        join = np.where(any_sliver, sliver_join, join)
        join &= ~(loners[:, None] | loners[None, :])
        np.fill_diagonal(join, False)
        if not join.any():
            break
        # connected sets of the join graph, by propagating the smallest index
        labels = np.arange(n)
        for _ in range(n):
            spread = np.where(join, labels[None, :], n).min(axis=1)
            new = np.minimum(labels, spread)
            new = new[new]
            if np.array_equal(new, labels):
                break
            labels = new
        roots = np.unique(labels)
        new_groups, new_boxes, new_slivers, new_loners = [], [], [], []
        for root in roots:
            members = np.flatnonzero(labels == root)
            new_groups.append([c for m in members for c in groups[m]])
            bx0, by0 = x[members].min(), y[members].min()
            bx1, by1 = x1[members].max(), y1[members].max()
            new_boxes.append([bx0, by0, bx1 - bx0, by1 - by0])
            new_slivers.append(bool(slivers[members].all()))
            new_loners.append(bool(loners[members].any()))
        groups, boxes = new_groups, np.array(new_boxes, np.int64)
        slivers, loners = np.array(new_slivers, bool), np.array(new_loners, bool)
    return [(g, [int(v) for v in b]) for g, b in zip(groups, boxes, strict=True)]


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
    """Indices of ``boxes`` in reading order: lines top to bottom, then left to right."""
    return [i for line in lines_of(boxes) for i in line]


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


def locate(gray: np.ndarray, settings: LocateSettings | None = None,
           work: LocateWork | None = None) -> list[Digit]:
    """Digits of a grayscale frame, in reading order, each with its own ink.

    The search runs at about ``settings.work_height`` rows (a 640x480 frame is searched
    at 320x240) on an ink map made at that resolution, in the view: the sheet rectified
    if its edges are in view, turned level if long lines run at an angle, else the frame
    itself. Digits large enough are cut from there; small ones are refined and cut from
    the view at full resolution. ``work``, if given, is filled with what was done.
    """
    settings = settings or LocateSettings()
    work = work if work is not None else LocateWork()
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError("locate() needs a 2-D uint8 grayscale frame")
    offset = (0, 0)
    gray_work = gray
    if settings.roi is not None:
        x, y, w, h = settings.roi
        gray_work = gray[y:y + h, x:x + w]
        offset = (x, y)
    if gray_work.size == 0:
        return []
    frame_h, frame_w = gray_work.shape
    factor = max(1, frame_h // settings.work_height)
    small_size = (max(1, frame_w // factor), max(1, frame_h // factor))
    small_frame = gray_work if factor == 1 else cv2.resize(gray_work, small_size,
                                                           interpolation=cv2.INTER_AREA)
    work.noise = noise_sigma(small_frame)
    small_frame = denoise(small_frame, work.noise)
    view = View.of_frame(frame_w, frame_h)
    sheet = None  # a sheet cut by the frame's edge: read only inside it
    if settings.find_page:
        corners = find_page(small_frame)
        if corners is not None:
            corners = (corners + 0.5) * factor - 0.5
            matrix, size = page_to_frame(corners)
            view = View(matrix, size, page=corners)
            work.page_found = True
        else:
            sheet = sheet_mask(small_frame)
            work.sheet_masked = sheet is not None
    paper_scale = max(1, 4 // factor)  # the paper estimate keeps a quarter of the frame's
    small_gray, small, binary, level = _search_images(view, small_frame, factor, paper_scale,
                                                      settings, sheet)
    if settings.straighten:
        angle = skew_angle(binary)
        if abs(angle) >= MIN_TURN:
            view = view.turned(angle)
            work.angle = angle
            if sheet is not None:
                sheet = view.warp(sheet, factor)
            small_gray, small, binary, level = _search_images(view, small_frame, factor,
                                                              paper_scale, settings, sheet)
    placement = Placement(view, (frame_w, frame_h), offset)
    full_ink = None  # made only when a small digit needs it
    binary = remove_lines(binary)
    # Grana's algorithm: three times faster than OpenCV's default here, same labels.
    count, labels, stats = _components(binary)
    height = small.shape[0]
    min_h, max_h = settings.min_height * height, settings.max_height * height
    min_piece = max(3, int(min_h * 0.12) ** 2)
    candidates = _largest(stats, min_piece, settings.max_components)
    if _remove_underlines(binary, labels, stats, candidates, min_h, work):
        count, labels, stats = _components(binary)
        candidates = _largest(stats, min_piece, settings.max_components)
    candidates = _without_rules(stats, candidates, min_h)
    if not view.is_identity:  # what touches the view's border is the sheet's edge
        candidates = [c for c in candidates if not _touches_border(stats[c], small.shape)]
    work.components += count - 1
    work.considered += len(candidates)
    digits, boxes = [], []
    for group, (xs0, ys0, w, h) in _merge_groups(stats, candidates, work, small.shape):
        xs1, ys1 = xs0 + w, ys0 + h
        if not (min_h <= h <= max_h) or w > settings.max_aspect * h:
            continue
        if h > 0.5 * height and _touches_border((xs0, ys0, w, h), small.shape):
            continue  # the frame's own border, a shadow edge: not a stroke
        area = int(stats[group, cv2.CC_STAT_AREA].sum())
        region = labels[ys0:ys1, xs0:xs1]
        mask = region == group[0] if len(group) == 1 else np.isin(region, group)
        if cv2.mean(small[ys0:ys1, xs0:xs1], mask.view(np.uint8))[0] < SOFT_EDGE * level:
            continue  # barely above the threshold throughout: a soft shadow edge, no stroke
        if is_blob(mask, area, small_gray, (xs0, ys0)):
            continue
        if factor == 1 or max(w, h) >= SEARCH_RESOLUTION_ENOUGH:
            ink = cut_digit(small, (xs0, ys0, w, h), mask)
            view_box = (xs0 * factor, ys0 * factor, w * factor, h * factor)
        else:
            if full_ink is None:
                full_gray = gray_work if view.is_identity else view.warp(gray_work)
                full_ink = ink_map(denoise(full_gray, work.noise * factor))
            refined = _refine(full_ink, (xs0 * factor, ys0 * factor, w * factor, h * factor),
                              mask, level, factor)
            if refined is None:
                continue
            view_box, fine = refined
            ink = cut_digit(full_ink, view_box, fine)
        view_box = tuple(int(v) for v in view_box)
        digits.append(Digit(placement.box_in_frame(view_box, ink), ink, view_box, placement))
        boxes.append(view_box)
    if digits:
        # Specks that survived: much smaller than the typical digit of this frame.
        typical = statistics.median(b[3] for b in boxes)
        keep = [i for i, b in enumerate(boxes) if b[3] >= 0.45 * typical]
        digits = [digits[i] for i in keep]
        boxes = [boxes[i] for i in keep]
    order = reading_order(boxes)[:settings.max_digits]
    return [digits[i] for i in order]


def _search_images(view: View, small_frame: np.ndarray, factor: int, paper_scale: int,
                   settings: LocateSettings, sheet: np.ndarray | None = None):
    """The view at the search resolution: its gray image, ink map, binary image and the
    ink level. With a ``sheet`` mask (in the view), nothing outside it is ink."""
    small_gray = small_frame if view.is_identity else view.warp(small_frame, factor)
    small = ink_map(small_gray, paper_scale=paper_scale)
    if sheet is not None:
        small[sheet == 0] = 0
    level = max(threshold_level(small, settings), noise_floor(small))
    # ink >= level, as 0/255 (the ink map is integer: ">= level" is "> ceil(level) - 1")
    _, binary = cv2.threshold(small, math.ceil(level) - 1, 255, cv2.THRESH_BINARY)
    return small_gray, small, binary, level


def _touches_border(box, shape: tuple[int, int]) -> bool:
    """Whether box ``(x, y, w, h, ...)`` reaches the edge of an image of ``shape``."""
    x, y, w, h = (int(v) for v in box[:4])
    return x == 0 or y == 0 or x + w == shape[1] or y + h == shape[0]


def _components(binary: np.ndarray):
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        binary, 8, cv2.CV_32S, cv2.CCL_GRANA)
    return count, labels, stats


RULE_ASPECT = 4.0  # a component this many times wider than tall ...
RULE_WIDTH = 0.9  # ... and wider than this times the typical digit height is a rule


def _without_rules(stats: np.ndarray, candidates: list[int], min_h: float) -> list[int]:
    """``candidates`` less the rules: underlines, strike-throughs, minus signs and other
    long thin strokes standing apart from the digits. Left in, a rule under a number
    joins every digit above it into one group too wide to be a digit. The bar of a 5 or a
    7 drawn apart from its stem is narrower than a digit is tall, and stays."""
    if len(candidates) < 2:
        return candidates
    boxes = stats[candidates, :4]
    w, h = boxes[:, 2], boxes[:, 3]
    upright = (h >= min_h) & (w < 3 * h)
    if not upright.any():
        return candidates
    typical = float(np.median(h[upright]))
    rule = (w >= RULE_ASPECT * h) & (w >= RULE_WIDTH * typical)
    return [c for c, is_rule in zip(candidates, rule, strict=True) if not is_rule]


def _largest(stats: np.ndarray, min_area: int, limit: int) -> list[int]:
    """Labels of the components of at least ``min_area`` pixels, the largest ``limit``."""
    areas = stats[1:, cv2.CC_STAT_AREA]
    labels = np.flatnonzero(areas >= min_area) + 1
    if labels.size > limit:
        labels = labels[np.argsort(-areas[labels - 1], kind="stable")[:limit]]
        labels.sort()
    return labels.tolist()


def _remove_underlines(binary: np.ndarray, labels: np.ndarray, stats: np.ndarray,
                       candidates: list[int], min_h: float, work: LocateWork) -> bool:
    """Take underlines and boxes out of the components that are wider than tall (at most
    ``MAX_LOCAL_LINE_CHECKS`` of them, the widest first). Returns whether any went."""
    wide = [c for c in candidates
            if stats[c, cv2.CC_STAT_WIDTH] > 1.3 * stats[c, cv2.CC_STAT_HEIGHT]
            and stats[c, cv2.CC_STAT_WIDTH] >= 2 * min_h]
    wide.sort(key=lambda c: -stats[c, cv2.CC_STAT_WIDTH])
    changed = False
    for c in wide[:MAX_LOCAL_LINE_CHECKS]:
        work.local_line_checks += 1
        x, y, w, h = (int(v) for v in stats[c, :4])
        mask = labels[y:y + h, x:x + w] == c
        cleaned = remove_local_lines(mask)
        if cleaned is None:
            continue
        binary[y:y + h, x:x + w][mask & ~cleaned] = 0
        changed = True
    return changed
