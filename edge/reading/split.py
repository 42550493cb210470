"""Touching digits: segmentation by recognition.

A located digit much wider than a digit usually is may be two to four digits that touch
or overlap. :func:`split_candidates` proposes cuts at the thinnest columns near equally
spaced positions; the classifier reads every piece, and :func:`choose` keeps the
alternative (the whole, or one of the splits) whose pieces it reads most confidently,
with a penalty for pieces wider than digits are. Pure functions: the pipeline batches the
pieces with the frame's other crops into one invoke.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from edge.bundle import DIGIT_CLASSES
from edge.reading.locate import Digit

logger = logging.getLogger(__name__)

MIN_ASPECT = 1.15  # narrower than this (width / height): one digit, no split tried
MAX_PARTS = 6
WIDE_PENALTY = 3.0  # per unit of width / height beyond WIDE_FROM, in log-probability
WIDE_FROM = 0.95
# a split must read this many times more likely than the whole (tuning seeds: 2.5 cut
# wide MNIST digits in two, 5 left touching digits joined)
SPLIT_MARGIN = 3.5


def split_candidates(digit: Digit) -> list[list[Digit]]:
    """Ways to cut ``digit`` into 2..4 digits side by side (may be empty)."""
    if digit.view_box is None:
        return []
    x, y, w, h = digit.view_box
    if h <= 0 or w / h < MIN_ASPECT:
        return []
    ink = digit.ink
    rows, columns = ink.shape
    scale_x, scale_y = w / columns, h / rows
    profile = ink.sum(axis=0, dtype=np.float64)
    profile = np.convolve(profile, np.ones(3) / 3, mode="same")
    alternatives = []
    for parts in range(2, MAX_PARTS + 1):
        piece_aspect = w / parts / h
        if piece_aspect < 0.3:
            break
        if piece_aspect > 1.1:
            continue
        cuts = [0]
        for k in range(1, parts):
            centre = k * columns / parts
            reach = max(1, int(0.3 * columns / parts))
            lo, hi = max(cuts[-1] + 2, int(centre) - reach), min(columns - 2, int(centre) + reach)
            if hi <= lo:
                break
            cuts.append(lo + int(np.argmin(profile[lo:hi])))
        else:
            cuts.append(columns)
            pieces = [_piece(digit, ink[:, a:b], a, scale_x, scale_y)
                      for a, b in zip(cuts, cuts[1:], strict=False)]
            if all(p is not None for p in pieces):
                alternatives.append(pieces)
    return alternatives


def _piece(digit: Digit, ink: np.ndarray, left: int, scale_x: float, scale_y: float
           ) -> Digit | None:
    ys, xs = np.nonzero(ink)
    if ys.size < 4:
        return None
    top, bottom = int(ys.min()), int(ys.max()) + 1
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    own = ink[top:bottom, x0:x1]
    vx, vy, _, _ = digit.view_box
    view_box = (int(vx + (left + x0) * scale_x), int(vy + top * scale_y),
                max(1, int(round((x1 - x0) * scale_x))), max(1, int(round((bottom - top)
                                                                          * scale_y))))
    box = digit.placement.box_in_frame(view_box, own) if digit.placement else view_box
    return Digit(box, own, view_box, digit.placement)




def alternative_score(pieces_probabilities: np.ndarray, pieces: list[Digit]) -> float:
    """Mean log-probability of each piece's best digit, less a penalty for pieces wider
    than a digit. A piece the model calls "not a digit" scores by its best digit alone,
    so a wrong cut (half a digit, two digits in one piece) scores low."""
    best = np.maximum(pieces_probabilities[:, :DIGIT_CLASSES].max(axis=1), 1e-6)
    penalty = 0.0
    for piece in pieces:
        _, _, w, h = piece.view_box
        penalty += WIDE_PENALTY * max(0.0, w / max(h, 1) - WIDE_FROM)
    return float(np.mean(np.log(best))) - penalty / len(pieces)


def choose(digit: Digit, whole: np.ndarray, alternatives: list[list[Digit]],
           probabilities: list[np.ndarray]) -> tuple[list[Digit], np.ndarray]:
    """The best of reading ``digit`` whole (``whole``: its probabilities, [C]) or as one
    of ``alternatives`` (``probabilities``: [pieces, C] each)."""
    best_pieces, best_probs = [digit], whole[None, :]
    best_score = alternative_score(best_probs, [digit])
    for pieces, probs in zip(alternatives, probabilities, strict=True):
        score = alternative_score(probs, pieces)
        if score > best_score + math.log(SPLIT_MARGIN):
            best_pieces, best_probs, best_score = pieces, probs, score
    return best_pieces, best_probs
