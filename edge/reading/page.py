"""Find the sheet in a frame: the largest bright quadrilateral with its edges in view.

A sheet on a desk, a card or a sticky note is brighter than what it lies on. The frame
is shrunk to about 80 rows, split into bright and dark by Otsu's threshold, and the
largest bright region's convex hull is reduced to four corners. It counts as a sheet
only if it is a convex quadrilateral that fills its outline, covers 12-92 % of the frame,
keeps its corners inside the frame and is clearly brighter than its surroundings. Where
no sheet edge is visible (the page fills the frame), :func:`find_page` returns ``None``
and the frame is read as it is.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

SEARCH_ROWS = 80
MIN_AREA, MAX_AREA = 0.12, 0.92
MIN_FILL = 0.86  # the bright region's share of its quadrilateral
MIN_CONTRAST = 0.18  # (inside - outside) / inside, of the median brightness
INSET = 0.015  # the quadrilateral shrinks by this share toward its centre: no sheet edge


def order_corners(quad: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left."""
    quad = np.asarray(quad, np.float32).reshape(4, 2)
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    quad = quad[np.argsort(angles)]  # clockwise in image coordinates, from about -180°
    start = int(np.argmin(quad.sum(axis=1)))  # top-left has the smallest x + y
    return np.roll(quad, -start, axis=0)


def find_page(gray: np.ndarray) -> np.ndarray | None:
    """The sheet's four corners (float32 [4, 2], frame pixels, clockwise from top-left),
    or ``None`` when no sheet with its edges in view is found.

    A shadow across the sheet makes part of it darker than Otsu's split, so lower levels
    are tried too (a shadowed sheet is still brighter than the shadowed desk); the
    largest quadrilateral that passes every check wins.
    """
    height, width = gray.shape
    factor = max(1, height // SEARCH_ROWS)
    small = cv2.resize(gray, (width // factor, height // factor), interpolation=cv2.INTER_AREA) \
        if factor > 1 else gray
    small = cv2.GaussianBlur(small, (5, 5), 0)
    otsu, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    best, best_area = None, 0.0
    for share in LEVELS:
        _, bright = cv2.threshold(small, otsu * share, 255, cv2.THRESH_BINARY)
        quad = _quad_of(small, bright)
        area = cv2.contourArea(quad) if quad is not None else 0.0
        if area > best_area:
            best, best_area = quad, area
    if best is None:
        return None
    quad = order_corners(best)
    centre = quad.mean(axis=0)
    quad = centre + (quad - centre) * (1 - INSET)
    return ((quad + 0.5) * factor - 0.5).astype(np.float32)


LEVELS = (1.0, 0.8, 0.65, 0.5)  # shares of Otsu's level tried as the sheet's edge


def _quad_of(small: np.ndarray, bright: np.ndarray) -> np.ndarray | None:
    """The largest bright region's quadrilateral, if it passes as a sheet."""
    # Writing on the sheet is dark: close it into the sheet.
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, 4, cv2.CV_32S)
    if count < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = int(stats[biggest, cv2.CC_STAT_AREA])
    frame_area = small.shape[0] * small.shape[1]
    if not MIN_AREA * frame_area <= area <= MAX_AREA * frame_area:
        return None
    region = (labels == biggest).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    perimeter = cv2.arcLength(hull, True)
    quad = None
    for epsilon in (0.02, 0.03, 0.045, 0.06, 0.08):
        approx = cv2.approxPolyDP(hull, epsilon * perimeter, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float32)
            break
        if len(approx) < 4:
            break
    if quad is None or not cv2.isContourConvex(quad.astype(np.int32).reshape(-1, 1, 2)):
        return None
    quad_area = cv2.contourArea(quad)
    if quad_area <= 0 or area < MIN_FILL * quad_area or quad_area > MAX_AREA * frame_area:
        return None
    margin = 1.5
    h_small, w_small = small.shape
    if (quad[:, 0].min() < margin or quad[:, 1].min() < margin
            or quad[:, 0].max() > w_small - 1 - margin or quad[:, 1].max() > h_small - 1 - margin):
        return None  # a corner outside the frame: the sheet's edges are not all in view
    inside = float(np.median(small[region > 0]))
    outside_pixels = small[bright == 0]
    if outside_pixels.size < 0.04 * frame_area:
        return None
    outside = float(np.median(outside_pixels))
    if inside <= 0 or (inside - outside) / inside < MIN_CONTRAST:
        return None
    return quad


def page_size(corners: np.ndarray) -> tuple[int, int]:
    """Width and height of the rectified sheet, in frame pixels (the mean of its
    opposite sides)."""
    tl, tr, br, bl = corners
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return max(8, int(round(width))), max(8, int(round(height)))


def page_to_frame(corners: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The homography from rectified-sheet pixels to frame pixels, and the sheet's size:
    the four-point transform of a document scanner."""
    width, height = page_size(corners)
    flat = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
                    np.float32)
    return cv2.getPerspectiveTransform(flat, corners.astype(np.float32)), (width, height)
