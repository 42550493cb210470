"""Lines: ruled and grid paper, underlines and boxes drawn round a number.

Pure functions over binary images (0/255, ink bright). :func:`skew_angle` finds the
angle of long lines (ruled paper, an underline, a tilted page filling the frame) so the
view can be turned level; :func:`remove_lines` takes away lines across the page, and
:func:`remove_local_lines` the underline or box of one component, both keeping the
strokes that cross them.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

MAX_SKEW = 20.0  # degrees
_ANGLES = np.arange(-MAX_SKEW, MAX_SKEW + 0.5, 2.0)
_MAX_POINTS = 800


def skew_angle(binary: np.ndarray, min_share: float = 0.5) -> float:
    """The angle (degrees counter-clockwise, within ±20) at which long straight lines run,
    or 0.0 when no line covering ``min_share`` of the width is found.

    Ink pixels (at most ``_MAX_POINTS``, sampled) are projected across each candidate
    angle; a line at that angle gathers into one bin. The best of every second degree is
    refined in half, then quarter degrees.
    """
    points = cv2.findNonZero(binary)
    if points is None or len(points) < 20:
        return 0.0
    points = points.reshape(-1, 2).astype(np.int64)
    xs, ys = points[:, 0], points[:, 1]
    if xs.size > _MAX_POINTS:
        pick = np.linspace(0, xs.size - 1, _MAX_POINTS).astype(np.int64)
        xs, ys = xs[pick], ys[pick]
    width = binary.shape[1]
    best = _best_angle(xs, ys, _ANGLES)
    fine = _best_angle(xs, ys, best + np.arange(-1.5, 1.51, 0.5))
    fine = _best_angle(xs, ys, fine + np.array([-0.25, 0.0, 0.25]))
    # A line, not a row of digits: the pixels on the strongest row at that angle cover
    # at least ``min_share`` of the width (in 4-pixel steps).
    radians = np.radians(fine)
    rows = np.round(ys * np.cos(radians) - xs * np.sin(radians)).astype(np.int64)
    rows -= rows.min()
    triple = np.convolve(np.bincount(rows), np.ones(3, np.int64), mode="same")
    peak = int(np.argmax(triple))
    on_line = np.abs(rows - peak) <= 1
    covered = np.unique(xs[on_line] // 4).size * 4
    if covered < min_share * width:
        return 0.0
    return -float(fine)  # counter-clockwise positive, as cv2.getRotationMatrix2D counts


def _best_angle(xs: np.ndarray, ys: np.ndarray, angles: np.ndarray) -> float:
    radians = np.radians(angles)[:, None]
    # the row a pixel lands on once the view is turned by -angle
    rows = ys[None, :] * np.cos(radians) - xs[None, :] * np.sin(radians)
    rows = np.round(rows).astype(np.int64)
    rows -= rows.min()
    span = int(rows.max()) + 3
    flat = rows + (np.arange(len(angles)) * span)[:, None]
    hist = np.bincount(flat.ravel(), minlength=len(angles) * span).reshape(len(angles), span)
    # a line one or two rows thick: the best sum of three neighbouring rows
    triple = hist[:, :-2] + hist[:, 1:-1] + hist[:, 2:]
    peaks = triple.max(axis=1)
    index = int(np.argmax(peaks))
    if peaks[index] <= peaks[np.argmin(np.abs(angles))] * 1.05:
        index = int(np.argmin(np.abs(angles)))  # no better than level: keep it level
    return float(angles[index])


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



def remove_local_lines(mask: np.ndarray) -> np.ndarray | None:
    """One component's own underline or box (``mask``: bool, the component in its box).

    A horizontal run 1.3 times longer than the component is tall, and at least 70 % of its
    width, in its top or bottom quarter, is no stroke of a digit: a digit's bars are
    shorter than its height. Where such lines are found at the top and the bottom (a box),
    the sides, vertical runs of 70 % of the distance between them near the box's left and
    right ends, go too. Strokes that cross
    a line and continue on the far side are kept. Returns the mask without the lines, or
    ``None`` when it has none.
    """
    height, width = mask.shape
    length = int(max(height * 1.3, width * 0.7))
    if length >= width or width < 8:
        return None
    binary = mask.view(np.uint8) * np.uint8(255)
    runs = cv2.morphologyEx(binary, cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    line_rows = np.flatnonzero(runs.any(axis=1))
    # a line is thin: bands of run rows thicker than a fifth of the height are filled ink
    thin = [band for band in np.split(line_rows, np.flatnonzero(np.diff(line_rows) > 1) + 1)
            if band.size and band.size <= max(2, 0.2 * height)
            and (band[-1] < 0.25 * height or band[0] > 0.75 * height)]
    if not thin:
        return None
    line_rows = np.concatenate(thin)
    keep_rows = np.zeros(height, bool)
    keep_rows[line_rows] = True
    runs[~keep_rows] = 0
    thickness = max(band.size for band in thin)
    crossing = cv2.morphologyEx(binary, cv2.MORPH_OPEN,
                                np.ones((thickness + 4, 1), np.uint8))
    lines = runs & ~crossing
    top, bottom = line_rows[0], line_rows[-1]
    if top < 0.3 * height and bottom > 0.7 * height and bottom - top > 4:
        side = int(0.7 * (bottom - top))
        columns = cv2.morphologyEx(binary, cv2.MORPH_OPEN,
                                   cv2.getStructuringElement(cv2.MORPH_RECT, (1, side)))
        ends = np.zeros_like(columns)
        edge = max(2, int(0.12 * width))
        ends[:, :edge] = columns[:, :edge]
        ends[:, -edge:] = columns[:, -edge:]
        across = cv2.morphologyEx(binary, cv2.MORPH_OPEN,
                                  np.ones((1, 3 * thickness + 2), np.uint8))
        lines |= ends & ~across
    if not lines.any():
        return None
    # the line's own anti-aliased rim: one pixel around it, where it is not a stroke
    rim = cv2.dilate(lines, np.ones((3, 3), np.uint8)) & ~crossing
    return mask & ~((lines | rim) > 0)
