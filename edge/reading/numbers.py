"""Numbers, not just digits: digits grouped by line and by spacing.

A gap between neighbouring digits of a line wider than about the digits' height starts a
new number. Pure function over boxes in the view (the rectified, level page), so a
tilted page groups as a flat one.
"""

from __future__ import annotations

import logging
import statistics

logger = logging.getLogger(__name__)

GAP = 0.9  # a gap wider than this times the line's digit height starts a new number


def lines_of(boxes: list[tuple[int, int, int, int]]) -> list[list[int]]:
    """Indices of ``boxes`` per line, lines top to bottom, each left to right."""
    if not boxes:
        return []
    centres = [y + h / 2 for _, y, _, h in boxes]
    tolerance = 0.5 * statistics.median(h for *_, h in boxes)
    lines: list[list[int]] = []
    line_centre = 0.0
    for i in sorted(range(len(boxes)), key=centres.__getitem__):
        if lines and abs(centres[i] - line_centre) <= tolerance:
            lines[-1].append(i)
            line_centre += (centres[i] - line_centre) / len(lines[-1])  # running mean
        else:
            lines.append([i])
            line_centre = centres[i]
    return [sorted(line, key=lambda k: boxes[k][0]) for line in lines]


def group_numbers(boxes: list[tuple[int, int, int, int]]) -> list[list[int]]:
    """Indices of ``boxes`` per number, in reading order."""
    numbers: list[list[int]] = []
    for line in lines_of(boxes):
        height = statistics.median(boxes[i][3] for i in line)
        current = [line[0]]
        for previous, i in zip(line, line[1:], strict=False):
            gap = boxes[i][0] - (boxes[previous][0] + boxes[previous][2])
            if gap > GAP * height:
                numbers.append(current)
                current = []
            current.append(i)
        numbers.append(current)
    return numbers
