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
WORD_GAP = 0.45  # letters of one word stand closer than this times their height
MIN_LETTER = 0.35  # a rejected crop this much of its neighbour's height counts as a letter


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


def in_words(boxes: list[tuple[int, int, int, int]], rejected: list[bool]) -> set[int]:
    """Indices of crops read as digits that stand inside a word.

    An ``o`` or an ``l`` of "Total" is, alone, a 0 or a 1: the model cannot tell, nor can
    a person from the crop alone. Its neighbours tell: a run of crops on one line, each
    within ``WORD_GAP`` times its height of the next, in which more crops were rejected
    as "not a digit" (letters at least ``MIN_LETTER`` of the run's tallest digit, not
    specks) than read as digits, is a word, and its digits are letters. A number beside
    a word keeps its digits: words stand a space apart from it.
    """
    if not any(rejected):
        return set()
    letters = set()
    for line in lines_of(boxes):
        runs, current = [], [line[0]]
        for previous, i in zip(line, line[1:], strict=False):
            gap = boxes[i][0] - (boxes[previous][0] + boxes[previous][2])
            if gap > WORD_GAP * max(boxes[i][3], boxes[previous][3]):
                runs.append(current)
                current = []
            current.append(i)
        runs.append(current)
        for run in runs:
            digits = [i for i in run if not rejected[i]]
            if not digits:
                continue
            tallest = max(boxes[i][3] for i in digits)
            rejected_letters = sum(1 for i in run if rejected[i]
                                   and boxes[i][3] >= MIN_LETTER * tallest)
            if rejected_letters > len(digits):
                letters.update(digits)
    return letters
