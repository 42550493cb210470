"""The reading path on real-photo conditions: the sheet on a desk, tilt, lines, underlines
and boxes, small digits, touching digits, numbers, and bounded work on hostile frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.evaluate import match, score
from edge.reading.lines import remove_local_lines, skew_angle
from edge.reading.locate import (
    MAX_LOCAL_LINE_CHECKS,
    MAX_MERGE_ROUNDS,
    LocateSettings,
    LocateWork,
    locate,
)
from edge.reading.numbers import group_numbers
from edge.reading.page import find_page
from edge.reading.view import View
from edge.scenes import CONDITIONS, FieldOptions, generate_field


def sheet_on_desk(corners, size=(640, 480), desk=70, paper=225):
    frame = np.full((size[1], size[0]), desk, np.uint8)
    cv2.fillConvexPoly(frame, np.round(corners).astype(np.int32), paper)
    return frame


def test_the_sheet_on_a_desk_is_found_at_its_corners():
    corners = np.array([[150, 90], [520, 60], [560, 400], [110, 420]], np.float32)
    frame = sheet_on_desk(corners)
    cv2.putText(frame, "8589", (200, 280), cv2.FONT_HERSHEY_SIMPLEX, 3, 30, 8)
    found = find_page(frame)
    assert found is not None
    # the corners come back in order, inset a little from the sheet's edge
    assert np.abs(found - corners).max() < 12, found


@pytest.mark.parametrize("case", ["fills the frame", "no sheet", "corner outside"])
def test_no_sheet_edge_in_view_means_no_page(case):
    if case == "fills the frame":
        frame = np.full((480, 640), 220, np.uint8)
    elif case == "no sheet":
        frame = np.random.default_rng(0).integers(60, 200, (480, 640)).astype(np.uint8)
    else:
        frame = sheet_on_desk(np.array([[-80, 60], [500, 40], [560, 420], [100, 430]]))
    cv2.putText(frame, "42", (200, 280), cv2.FONT_HERSHEY_SIMPLEX, 3, 30, 8)
    assert find_page(frame) is None


def test_a_tilted_card_is_read_and_boxes_stay_in_frame_pixels():
    """A card in perspective on a desk: digits are found inside it only, and their boxes
    are given in the original frame's pixels."""
    card = np.full((300, 500), 230, np.uint8)
    cv2.putText(card, "3 7 5", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 4, 25, 12)
    flat = np.array([[0, 0], [500, 0], [500, 300], [0, 300]], np.float32)
    corners = np.array([[140, 120], [530, 80], [560, 390], [100, 360]], np.float32)
    matrix = cv2.getPerspectiveTransform(flat, corners)
    frame = np.full((480, 640), 60, np.uint8)
    cv2.warpPerspective(card, matrix, (640, 480), frame, borderMode=cv2.BORDER_TRANSPARENT)
    truth = []
    count, labels = cv2.connectedComponents((card < 128).view(np.uint8))
    assert count == 4  # three digits on the card
    for label in range(1, count):  # each digit's ink, mapped into the frame
        ys, xs = np.nonzero(labels == label)
        pts = np.stack([xs + 0.5, ys + 0.5], 1).astype(np.float32)[None]
        mapped = cv2.perspectiveTransform(pts, matrix)[0]
        lo, hi = mapped.min(0), mapped.max(0)
        truth.append([int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1])])
    work = LocateWork()
    digits = locate(frame, work=work)
    assert work.page_found
    assert len(digits) == 3, [d.box for d in digits]
    pairs = match([{"box": d.box} for d in digits], truth)
    assert len(pairs) == 3
    for i, j in pairs:
        x, y, w, h = digits[i].box
        tx, ty, tw, th = truth[j]
        assert abs(x - tx) <= 6 and abs(y - ty) <= 6 and abs(w - tw) <= 8 and abs(h - th) <= 8


def test_skew_of_ruled_lines_is_measured():
    binary = np.zeros((240, 320), np.uint8)
    angle = 12.0
    for offset in range(-300, 300, 22):
        x0, x1 = -50, 370
        y0 = offset + 120 - np.tan(np.radians(angle)) * (x0 - 160)
        y1 = offset + 120 - np.tan(np.radians(angle)) * (x1 - 160)
        cv2.line(binary, (x0, int(y0)), (x1, int(y1)), 255, 1)
    assert skew_angle(binary) == pytest.approx(angle, abs=0.5)
    assert skew_angle(np.zeros_like(binary)) == 0.0
    blobs = np.zeros_like(binary)  # digits alone are no lines
    cv2.putText(blobs, "123", (20, 150), cv2.FONT_HERSHEY_SIMPLEX, 3, 255, 8)
    assert skew_angle(blobs) == 0.0


def test_a_turned_view_maps_its_boxes_back_to_the_frame():
    view = View.of_frame(640, 480).turned(10.0)
    frame_points = np.array([[100, 100], [500, 300], [320, 240]], np.float32)
    # frame -> view by the inverse matrix, and back
    inverse = np.linalg.inv(view.matrix)
    in_view = cv2.perspectiveTransform(frame_points[None], inverse)[0]
    assert np.allclose(view.to_frame(in_view), frame_points, atol=1e-3)
    assert view.size[0] > 640 and view.size[1] > 480  # nothing of the frame is cut off


def test_ruled_lines_at_an_angle_are_removed_without_cutting_digits():
    frame = np.full((480, 640), 225, np.uint8)
    cv2.putText(frame, "4 7", (150, 300), cv2.FONT_HERSHEY_SIMPLEX, 5, 30, 14)
    rotation = cv2.getRotationMatrix2D((320, 240), 14, 1.0)
    frame = cv2.warpAffine(frame, rotation, (640, 480), borderMode=cv2.BORDER_REPLICATE)
    lines = np.zeros_like(frame)
    for y in range(-400, 900, 34):
        cv2.line(lines, (-100, y), (800, y - int(900 * np.tan(np.radians(14)))), 255, 2)
    frame[lines > 0] = np.minimum(frame[lines > 0], 150)
    work = LocateWork()
    digits = locate(frame, work=work)
    assert work.angle == pytest.approx(14, abs=1.0)
    assert len(digits) == 2, [d.box for d in digits]
    heights = sorted(d.box[3] for d in digits)
    assert heights[0] > 90  # whole digits, not pieces cut by a line


@pytest.mark.parametrize("mark", ["underline", "box"])
def test_an_underlined_or_boxed_number_reads_as_separate_digits(mark):
    frame = np.full((480, 640), 225, np.uint8)
    cv2.putText(frame, "451", (170, 290), cv2.FONT_HERSHEY_SIMPLEX, 4, 30, 10)
    if mark == "underline":  # touching the digits' feet
        cv2.line(frame, (150, 292), (470, 296), 30, 6)
    else:
        cv2.rectangle(frame, (145, 160), (480, 320), 30, 5)
    digits = locate(frame)
    assert len(digits) == 3, [d.box for d in digits]
    assert all(d.box[3] < 150 for d in digits)  # no box reaches down to the line


@pytest.mark.parametrize("rule", ["underline apart", "minus sign"])
def test_a_rule_apart_from_the_digits_does_not_join_them(rule):
    """An underline below a number, not touching it, used to join every digit above it
    into one box too wide to be a digit: the number was lost whole."""
    frame = np.full((480, 640), 225, np.uint8)
    cv2.putText(frame, "451", (170, 290), cv2.FONT_HERSHEY_SIMPLEX, 4, 30, 10)
    if rule == "underline apart":
        cv2.line(frame, (150, 312), (470, 316), 30, 6)
    else:
        cv2.line(frame, (60, 240), (140, 240), 30, 9)
    digits = locate(frame)
    assert len(digits) == 3, [d.box for d in digits]
    assert all(d.box[0] >= 160 and d.box[3] < 130 for d in digits)


def _wood(rng, size=(480, 640)):
    yy, xx = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    warp = cv2.GaussianBlur(rng.normal(0, 1, size).astype(np.float32), (0, 0), 25)
    warp *= 40 / np.abs(warp).max()
    stripes = 0.5 + 0.5 * np.sin((0.6 * xx + 0.8 * yy + warp) / 7)
    return (70 + 60 * stripes).astype(np.uint8)


def test_a_sheet_cut_by_the_frame_on_a_wood_desk_is_read_inside_its_outline():
    """A corner of the sheet out of view: no quadrilateral, but the digits on the sheet
    are read and nothing of the wood grain around it."""
    frame = _wood(np.random.default_rng(4))
    sheet = np.int32([[120, 60], [560, 90], [600, 520], [80, 500]])  # runs off the bottom
    cv2.fillConvexPoly(frame, sheet, 228)
    cv2.putText(frame, "3 8 6", (180, 300), cv2.FONT_HERSHEY_SIMPLEX, 3.5, 35, 10)
    work = LocateWork()
    digits = locate(frame, work=work)
    assert work.sheet_masked and not work.page_found
    assert len(digits) == 3, [d.box for d in digits]
    assert all(170 <= d.box[0] <= 480 and 190 <= d.box[1] <= 310 for d in digits)


def test_the_light_falling_off_is_no_sheet_edge():
    """A page filling the frame, darker toward one side (a soft shadow): no sheet outline
    is taken from the light, and the digits in the darker part are read."""
    xx = np.tile(np.linspace(0, 1, 640, dtype=np.float32), (480, 1))
    frame = (225 * (1 - 0.45 * np.clip((xx - 0.3) * 2.5, 0, 1))).astype(np.uint8)
    cv2.putText(frame, "2 7", (60, 280), cv2.FONT_HERSHEY_SIMPLEX, 3, 30, 9)
    cv2.putText(frame, "5 9", (420, 280), cv2.FONT_HERSHEY_SIMPLEX, 3, 20, 9)
    work = LocateWork()
    digits = locate(frame, work=work)
    assert not work.sheet_masked and not work.page_found
    assert len(digits) == 4, [d.box for d in digits]


def test_a_hard_shadow_edge_is_not_ink():
    """A shadow with a sharp edge across the page: the digits on both sides are read and
    the edge itself gives no digit."""
    frame = np.full((480, 640), 225, np.uint8)
    shadow = np.zeros_like(frame)
    cv2.fillPoly(shadow, [np.int32([[330, 0], [640, 0], [640, 480], [230, 480]])], 1)
    frame = np.where(shadow > 0, (frame * 0.5).astype(np.uint8), frame)
    frame = cv2.GaussianBlur(frame, (0, 0), 1.0)
    cv2.putText(frame, "4 1", (40, 280), cv2.FONT_HERSHEY_SIMPLEX, 3, 30, 9)
    cv2.putText(frame, "6 3", (400, 280), cv2.FONT_HERSHEY_SIMPLEX, 3, 15, 9)
    digits = locate(frame)
    assert len(digits) == 4, [d.box for d in digits]
    assert all(d.box[0] < 250 or d.box[0] > 390 for d in digits)


def test_local_line_removal_keeps_a_filled_blob_and_a_seven():
    blob = np.zeros((50, 80), bool)
    cv2.ellipse(blob.view(np.uint8), (40, 25), (38, 23), 0, 0, 360, 1, -1)
    assert remove_local_lines(blob) is None
    seven = np.zeros((60, 40), np.uint8)
    cv2.putText(seven, "7", (0, 55), cv2.FONT_HERSHEY_SIMPLEX, 2, 1, 6)
    assert remove_local_lines(seven.astype(bool)) is None


def test_small_digits_are_found():
    """Digits 16 px tall in a 640x480 frame."""
    frame = np.full((480, 640), 220, np.uint8)
    cv2.putText(frame, "2 9 6", (260, 250), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 30, 2)
    digits = locate(frame)
    assert len(digits) == 3
    assert all(14 <= d.box[3] <= 20 for d in digits), [d.box for d in digits]


def test_numbers_are_grouped_by_line_and_spacing():
    boxes = [(10, 10, 20, 40), (34, 12, 20, 40), (58, 10, 20, 40),  # "123"
             (150, 12, 20, 40), (175, 11, 20, 40),                   # "45", a wide gap before
             (12, 100, 20, 40)]                                      # next line
    assert group_numbers(boxes) == [[0, 1, 2], [3, 4], [5]]
    assert group_numbers([]) == []


@pytest.mark.parametrize("frame_kind", ["noise", "checkerboard", "texture", "specks"])
def test_locate_does_bounded_work_on_hostile_frames(frame_kind):
    """Frames that made the old grouping compare thousands of specks pairwise: the work
    is capped (counted, not timed; times are in the benchmark)."""
    rng = np.random.default_rng(3)
    if frame_kind == "noise":
        frame = rng.integers(0, 256, (480, 640)).astype(np.uint8)
    elif frame_kind == "checkerboard":
        yy, xx = np.mgrid[0:480, 0:640]
        frame = np.where(((yy // 6) + (xx // 6)) % 2, 230, 20).astype(np.uint8)
    elif frame_kind == "texture":  # a keyboard-like field of small dark keys
        frame = np.full((480, 640), 200, np.uint8)
        for y in range(0, 480, 22):
            for x in range(0, 640, 22):
                cv2.rectangle(frame, (x + 3, y + 3), (x + 15, y + 15), 40, 2)
                cv2.putText(frame, "ab", (x + 4, y + 14), cv2.FONT_HERSHEY_PLAIN, 0.6, 40)
    else:  # dim room: low contrast, strong noise, thousands of specks
        frame = np.clip(60 + rng.normal(0, 15, (480, 640)), 0, 255).astype(np.uint8)
        frame[rng.random((480, 640)) < 0.02] = 10
    settings = LocateSettings()
    work = LocateWork()
    digits = locate(frame, settings, work)
    assert work.considered <= settings.max_components
    assert work.merge_rounds <= MAX_MERGE_ROUNDS
    assert work.pair_tests <= MAX_MERGE_ROUNDS * settings.max_components ** 2
    assert work.local_line_checks <= MAX_LOCAL_LINE_CHECKS
    assert len(digits) <= settings.max_digits


def test_field_scenes_record_their_conditions_and_truth():
    rng = np.random.default_rng(5)
    frame, truth = generate_field(rng, None, FieldOptions.only("desk", "tilt", "underline"))
    assert frame.shape == (480, 640, 3)
    assert {"desk", "tilt", "underline"} <= set(truth.conditions)
    assert not {"shadow", "dim", "words"} & set(truth.conditions)
    assert "".join(truth.numbers) == truth.reading == "".join(map(str, truth.digits))
    for x, y, w, h in truth.boxes:
        assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    with pytest.raises(ValueError, match="unknown field conditions"):
        FieldOptions.only("fog")
    assert set(CONDITIONS) >= {"desk", "ruled", "grid", "shadow", "dim", "motion_blur",
                               "defocus", "tilt", "underline", "box", "words", "touching",
                               "pencil", "small", "jpeg"}


def test_evaluate_scores_numbers_and_conditions():
    labels = [{"source": "a.png", "digits": [1, 2, 3], "reading": "123",
               "numbers": ["12", "3"], "boxes": [[0, 0, 10, 20], [12, 0, 10, 20],
                                                 [60, 0, 10, 20]],
               "conditions": {"desk": True, "jpeg": 80}},
              {"source": "b.png", "digits": [4], "reading": "4", "numbers": ["4"],
               "boxes": [[0, 0, 10, 20]], "conditions": {"dim": True}}]
    found = zip([1, 2, 3], labels[0]["boxes"], strict=True)
    results = [{"source": "a.png", "reading": "123", "numbers": ["123"],
                "digits": [{"digit": d, "box": b} for d, b in found]},
               {"source": "b.png", "reading": "", "numbers": [], "digits": []}]
    report = score(results, labels, by_condition=True)
    assert report["digit_accuracy"] == pytest.approx(3 / 4)
    assert report["exact_reading_rate"] == pytest.approx(1 / 2)
    assert report["exact_numbers_rate"] == 0.0  # "123" is not "12" and "3"
    assert report["by_condition"]["desk"]["digit_accuracy"] == 1.0
    assert report["by_condition"]["dim"]["detection_recall"] == 0.0
