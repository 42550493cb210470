"""The view that is read: the frame itself, or the sheet rectified and straightened.

A :class:`View` maps its own pixels to the frame's by one 3x3 matrix (a homography for
a sheet, a rotation for ruled lines that run at an angle), so every box found in the
view can be given back in the frame's pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class View:
    matrix: np.ndarray  # float64 3x3: view pixel (x, y, 1) -> frame pixel (homogeneous)
    size: tuple[int, int]  # width, height in full-resolution view pixels
    page: np.ndarray | None = None  # the sheet's corners in the frame, if one was found
    angle: float = 0.0  # degrees the view was turned to straighten lines

    @classmethod
    def of_frame(cls, width: int, height: int) -> View:
        return cls(np.eye(3), (width, height))

    @property
    def is_identity(self) -> bool:
        return self.page is None and self.angle == 0.0

    def warp(self, image: np.ndarray, factor: int = 1) -> np.ndarray:
        """The view at 1/``factor`` of its resolution, sampled from ``image``, which is the
        frame at 1/``factor`` of the frame's resolution."""
        width, height = self.size
        scale = np.diag([factor, factor, 1.0])
        matrix = np.linalg.inv(scale) @ self.matrix @ scale
        return cv2.warpPerspective(image, matrix, (max(1, width // factor),
                                                   max(1, height // factor)),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)

    def turned(self, angle: float) -> View:
        """This view turned so that content running ``angle`` degrees counter-clockwise
        becomes level, on a canvas large enough to hold all of it."""
        width, height = self.size
        radians = math.radians(angle)
        c, s = abs(math.cos(radians)), abs(math.sin(radians))
        new_w = int(math.ceil(width * c + height * s))
        new_h = int(math.ceil(width * s + height * c))
        # new view pixel -> old view pixel: rotate about the centres
        rotation = cv2.getRotationMatrix2D((new_w / 2, new_h / 2), angle, 1.0)
        rotation[:, 2] += (width / 2 - new_w / 2, height / 2 - new_h / 2)
        to_old = np.vstack([rotation, [0, 0, 1]])
        return View(self.matrix @ to_old, (new_w, new_h), self.page, self.angle + angle)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """float32 [N, 2] view pixels -> frame pixels."""
        return cv2.perspectiveTransform(points.reshape(1, -1, 2).astype(np.float32),
                                        self.matrix)[0]

    def box_in_frame(self, box: tuple[int, int, int, int], ink: np.ndarray | None,
                     frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The frame box around a view box's ink (``ink``: its mask or ink image, nonzero
        where ink is, at any resolution), or around the box's corners without ink."""
        x, y, w, h = box
        if ink is not None and np.count_nonzero(ink):
            ys, xs = np.nonzero(ink)
            step = max(1, xs.size // 120)
            sx, sy = w / ink.shape[1], h / ink.shape[0]
            points = np.stack([x + (xs[::step] + 0.5) * sx, y + (ys[::step] + 0.5) * sy], axis=1)
            half = np.array([[sx / 2, sy / 2]])
            points = np.concatenate([points - half, points + half])
        else:
            points = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
        mapped = self.to_frame(points)
        width, height = frame_size
        x0, y0 = np.clip(np.floor(mapped.min(axis=0)), 0, [width, height]).astype(int)
        x1, y1 = np.clip(np.ceil(mapped.max(axis=0)), 0, [width, height]).astype(int)
        return int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))
