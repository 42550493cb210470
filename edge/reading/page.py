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


def _search_image(gray: np.ndarray) -> tuple[np.ndarray, int, float]:
    """The frame shrunk to about ``SEARCH_ROWS`` rows and smoothed, the shrink factor,
    and Otsu's level of it."""
    height, width = gray.shape
    factor = max(1, height // SEARCH_ROWS)
    small = cv2.resize(gray, (width // factor, height // factor), interpolation=cv2.INTER_AREA) \
        if factor > 1 else gray
    small = cv2.GaussianBlur(small, (5, 5), 0)
    otsu, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return small, factor, float(otsu)


def order_corners(quad: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left."""
    quad = np.asarray(quad, np.float32).reshape(4, 2)
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    quad = quad[np.argsort(angles)]  # clockwise in image coordinates, from about -180°
    start = int(np.argmin(quad.sum(axis=1)))  # top-left has the smallest x + y
    return np.roll(quad, -start, axis=0)


SHEET_MIN_AREA, SHEET_MAX_AREA = 0.15, 0.85  # a sheet cut by the frame: share of the frame
SHEET_CONTRAST = 0.3  # stricter than a whole sheet's: a shadow's edge must not pass
SHEET_EDGE = 0.04  # the sheet's edge: this share of the frame height inside its outline


def sheet_mask(gray: np.ndarray) -> np.ndarray | None:
    """Where a sheet lies on a desk but a corner is out of view (no quadrilateral for
    :func:`find_page`): the sheet as a region, a uint8 mask of ``gray``'s size (255 on the
    sheet, its edge excluded), or ``None``.

    The largest bright region at Otsu's level (or at a lower share of it, for a shadowed
    sheet) counts when it covers 15-85 % of the frame, fills its convex hull and is
    clearly brighter than the rest. Reading only inside it keeps a wood grain, a
    keyboard or a patterned mat beside the sheet from being read, or from joining the
    digits into one group.
    """
    height, width = gray.shape
    small, factor, otsu = _search_image(gray)
    frame_area = small.shape[0] * small.shape[1]
    best, best_area = None, 0
    for share in LEVELS:  # the largest that passes: a shadowed part of the sheet included
        _, bright = cv2.threshold(small, otsu * share, 255, cv2.THRESH_BINARY)
        bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, 4, cv2.CV_32S)
        if count < 2:
            continue
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[biggest, cv2.CC_STAT_AREA])
        if area <= best_area or not SHEET_MIN_AREA * frame_area <= area <= \
                SHEET_MAX_AREA * frame_area:
            continue
        region = (labels == biggest).astype(np.uint8)
        contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.convexHull(max(contours, key=cv2.contourArea))
        if area < MIN_FILL * cv2.contourArea(hull):
            continue  # not one flat shape: light on a textured desk, not a sheet
        inside = float(np.median(small[region > 0]))
        outside = float(np.median(small[region == 0]))
        if inside <= 0 or (inside - outside) / inside < SHEET_CONTRAST:
            continue
        if not _has_a_corner(hull, small.shape):
            continue  # one straight edge across the frame: a shadow on a page, no sheet
        if not _sharp_outline(small, max(contours, key=cv2.contourArea), inside - outside):
            continue  # the light fading toward the frame's edge, no sheet's edge
        best, best_area = hull, area
    if best is None:
        return None
    filled = np.zeros(small.shape, np.uint8)
    cv2.fillPoly(filled, [best], 1)
    mask = cv2.resize(filled * 255, (width, height), interpolation=cv2.INTER_NEAREST)
    edge = max(1, int(SHEET_EDGE * height))
    return cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                     (2 * edge + 1, 2 * edge + 1)))


SHARP = 0.12  # a sheet's edge changes by this share of its contrast per pixel, at least


def _sharp_outline(small: np.ndarray, contour: np.ndarray, contrast: float) -> bool:
    """Whether the region's outline inside the frame is a step, as a sheet's edge on a
    desk is, rather than the smooth fall of light toward the frame's corners."""
    height, width = small.shape
    points = contour.reshape(-1, 2)
    inner = points[(points[:, 0] > 1) & (points[:, 1] > 1) & (points[:, 0] < width - 2)
                   & (points[:, 1] < height - 2)]
    if len(inner) < 8 or contrast <= 0:
        return False
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    gradient = cv2.magnitude(gx, gy) / 8  # gray levels per pixel
    return float(np.median(gradient[inner[:, 1], inner[:, 0]])) >= SHARP * contrast


def _has_a_corner(hull: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether the outline shows two long edges inside the frame that meet at an angle,
    as two sides of a sheet do. The lit part of a page crossed by a shadow shows one
    edge (the shadow's), or two parallel ones (a finger's)."""
    height, width = shape
    polygon = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True).reshape(-1, 2)
    directions = []
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        on_border = any(
            abs(a[k] - edge) <= 2 and abs(b[k] - edge) <= 2
            for k, edge in ((0, 0), (0, width - 1), (1, 0), (1, height - 1)))
        length = float(np.hypot(*(b - a)))
        if not on_border and length >= 0.15 * min(height, width):
            directions.append(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])) % 180)
    return any(30 <= abs(d - e) <= 150 for i, d in enumerate(directions)
               for e in directions[i + 1:])


def find_page(gray: np.ndarray) -> np.ndarray | None:
    """The sheet's four corners (float32 [4, 2], frame pixels, clockwise from top-left),
    or ``None`` when no sheet with its edges in view is found.

    A shadow across the sheet makes part of it darker than Otsu's split, so lower levels
    are tried too (a shadowed sheet is still brighter than the shadowed desk); the
    largest quadrilateral that passes every check wins.
    """
    small, factor, otsu = _search_image(gray)
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
