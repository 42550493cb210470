"""The edge pipeline's pure parts: locating, normalising, histogram specification."""

import cv2
import numpy as np
import pytest

from calibration.histogram import (
    gamma,
    load_reference,
    specification_lut,
    specify,
    specify_batch,
)
from edge.evaluate import match
from edge.reading.locate import LocateSettings, locate, reading_order, remove_lines
from edge.reading.normalize import mnist_layout
from tests.conftest import blank_frame, read_jsonl


def _gray(path):
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def test_finds_every_digit_of_generated_scenes(scene_dir):
    labels = read_jsonl(scene_dir / "labels.jsonl")
    found = total = extra = 0
    for label in labels:
        digits = locate(_gray(label["source"]))
        predicted = [{"box": list(d.box)} for d in digits]
        pairs = match(predicted, label["boxes"])
        found += len(pairs)
        total += len(label["boxes"])
        extra += len(predicted) - len(pairs)
    assert found / total >= 0.95
    assert extra / total <= 0.05


def test_bold_digits_are_read_and_filled_blobs_are_not():
    """Bold strokes fill most of a digit's box; a smudge or a dark sticker fills all of
    its own. Holes (0), bays (5) and narrowness (1) tell them apart."""
    frame = blank_frame()[..., 0].copy()
    cv2.putText(frame, "0", (20, 300), cv2.FONT_HERSHEY_DUPLEX, 4, 40, 22)
    cv2.putText(frame, "5", (140, 300), cv2.FONT_HERSHEY_DUPLEX, 4, 40, 22)
    cv2.rectangle(frame, (265, 190), (280, 300), 40, -1)                  # a straight 1
    cv2.circle(frame, (360, 250), 45, 50, -1)                             # a fingertip
    cv2.rectangle(frame, (440, 200), (520, 290), 50, -1)                  # a sticker
    cv2.ellipse(frame, (590, 250), (40, 25), 10, 0, 360, 50, -1)          # a smudge
    digits = locate(frame)
    lefts = [d.box[0] for d in digits]
    assert len(digits) == 3, [d.box for d in digits]
    assert lefts[0] < 130 <= lefts[1] < 250 <= lefts[2] < 300  # the 0, the 5, the 1


def test_ruled_lines_do_not_join_a_digit_to_the_page():
    """Faint ruled lines break into slivers when thresholded; the slivers must not chain
    a digit's box across the page."""
    rng = np.random.default_rng(5)
    frame = blank_frame(value=200)[..., 0].copy()
    for y in range(20, 480, 28):
        cv2.line(frame, (0, y), (639, y), 175, 1)
    cv2.putText(frame, "2", (260, 320), cv2.FONT_HERSHEY_DUPLEX, 5, 70, 20)
    frame = np.clip(frame + rng.normal(0, 5, frame.shape), 0, 255).astype(np.uint8)
    digits = locate(frame)
    assert len(digits) == 1
    x, y, w, h = digits[0].box
    assert 250 <= x <= x + w <= 420
    assert 180 <= y <= y + h <= 335


def _remove_lines_whole_image(binary):
    """remove_lines as first written: every opening over the whole image."""
    height, width = binary.shape
    row_length, column_length = max(15, width // 3), max(15, int(height * 0.7))
    thick = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    crossing_rows = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((5, 1), np.uint8))
    crossing_columns = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((1, 5), np.uint8))
    rows = (binary > 0).sum(axis=1) >= row_length
    columns = (binary > 0).sum(axis=0) >= column_length
    lines = np.zeros_like(binary)
    if rows.any():
        lines[rows] = cv2.morphologyEx(binary[rows], cv2.MORPH_OPEN,
                                       np.ones((1, row_length), np.uint8))
    lines &= ~(thick | crossing_rows)
    vertical = np.zeros_like(binary)
    if columns.any():
        vertical[:, columns] = cv2.morphologyEx(binary[:, columns].copy(), cv2.MORPH_OPEN,
                                                np.ones((column_length, 1), np.uint8))
    vertical &= ~(thick | crossing_columns)
    return binary & ~(lines | vertical)


def test_ruled_lines_go_and_the_strokes_that_cross_them_stay():
    binary = np.zeros((60, 80), np.uint8)
    binary[[0, 2, 30, 59]] = 255  # ruled lines, two at the frame's edges
    binary[10:50, 40:42] = 255  # a thin stroke crossing the line at row 30
    binary[:, 5] = 255  # a table border
    cleaned = remove_lines(binary)
    # Where two lines cross, a pixel stays (each line crosses the other); specks go later.
    ruled = np.delete(cleaned[[0, 2, 59]], 5, axis=1)
    border = np.delete(cleaned[:, 5], [0, 2, 30, 59])
    assert not ruled.any() and not border.any()
    assert cleaned[10:50, 40:42].all()  # including where it crosses the line
    assert not cleaned[30, 6:40].any() and not cleaned[30, 42:].any()


def test_line_removal_on_bands_equals_opening_the_whole_image():
    """remove_lines opens only bands around line rows; the result must not change."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        binary = (rng.random((48, 64)) < rng.uniform(0.02, 0.3)).astype(np.uint8) * 255
        binary[rng.integers(0, 48, rng.integers(0, 6))] = 255
        binary[:, rng.integers(0, 64, rng.integers(0, 4))] = 255
        np.testing.assert_array_equal(remove_lines(binary), _remove_lines_whole_image(binary))


@pytest.mark.parametrize("scale, thickness", [(4, 9), (1.2, 3)])  # cut at search / full res
def test_boxes_are_in_frame_pixels_around_the_ink(scale, thickness):
    frame = blank_frame()[..., 0].copy()
    cv2.putText(frame, "7", (300, 300), cv2.FONT_HERSHEY_SIMPLEX, scale, 30, thickness)
    digits = locate(frame)
    assert len(digits) == 1
    x, y, w, h = digits[0].box
    ys, xs = np.nonzero(frame < 128)
    assert abs(x - xs.min()) <= 2 and abs(y - ys.min()) <= 2
    assert abs(x + w - 1 - xs.max()) <= 2 and abs(y + h - 1 - ys.max()) <= 2


def test_empty_paper_and_ruled_lines_give_no_digits():
    frame = blank_frame()[..., 0].copy()
    assert locate(frame) == []
    for y in range(20, 480, 32):
        frame[y:y + 2] = 150
    frame[100:103, 50:53] = 40  # a speck of dust
    assert locate(frame) == []


def test_uneven_light_and_shadow():
    light = np.tile(np.linspace(250, 90, 640, dtype=np.float32), (480, 1))
    ink = np.zeros((480, 640), np.uint8)
    for i, x in enumerate((80, 250, 420, 560)):
        cv2.putText(ink, str(i + 2), (x, 300), cv2.FONT_HERSHEY_SIMPLEX, 4, 255, 8)
    frame = light * (1 - 0.55 * ink / 255.0)  # ink reflects 45 % of the local light
    digits = locate(np.clip(frame, 0, 255).astype(np.uint8))
    assert len(digits) == 4


def test_broken_strokes_of_one_digit_are_merged():
    frame = blank_frame()[..., 0].copy()
    cv2.line(frame, (300, 150), (360, 150), 20, 8)  # the bar of a 5, detached
    cv2.line(frame, (300, 165), (300, 220), 20, 8)
    cv2.ellipse(frame, (320, 260), (40, 40), 0, -90, 180, 20, 8)
    digits = locate(frame)
    assert len(digits) == 1


def test_reading_order_is_rows_then_left_to_right():
    boxes = [(300, 20, 40, 60), (10, 25, 40, 60), (200, 200, 40, 60), (20, 210, 40, 60)]
    assert reading_order(boxes) == [1, 0, 3, 2]


def test_region_of_interest_limits_the_search():
    frame = blank_frame()[..., 0].copy()
    cv2.putText(frame, "1", (100, 300), cv2.FONT_HERSHEY_SIMPLEX, 4, 20, 9)
    cv2.putText(frame, "4", (450, 300), cv2.FONT_HERSHEY_SIMPLEX, 4, 20, 9)
    digits = locate(frame, LocateSettings(roi=(320, 0, 320, 480)))
    assert len(digits) == 1 and digits[0].box[0] >= 440


def test_mnist_layout_fits_20_box_and_centres_mass():
    ink = np.zeros((90, 40), np.uint8)
    ink[5:85, 10:30] = 255
    out = mnist_layout(ink)
    ys, xs = np.nonzero(out)
    assert ys.max() - ys.min() + 1 == 20
    assert xs.max() - xs.min() + 1 <= 20
    moments = cv2.moments(out)
    assert abs(moments["m10"] / moments["m00"] - 14) <= 1
    assert abs(moments["m01"] / moments["m00"] - 14) <= 1


def test_histogram_specification_matches_mnist_ink():
    reference = load_reference()
    rng = np.random.default_rng(0)
    # A crop of a camera's ink map: paper a little above 0 with sensor noise, a stroke
    # of squeezed contrast around 120 (MNIST's ink is mostly 250 and up).
    image = np.clip(rng.normal(8, 4, (28, 28)), 0, 255).astype(np.uint8)
    image[6:22, 12:16] = np.clip(rng.normal(120, 6, (16, 4)), 0, 255)
    specified = specify(image, reference)
    stroke = np.zeros((28, 28), bool)
    stroke[6:22, 12:16] = True
    # The background becomes MNIST's exact 0 (the 3x3 smoothing spreads the stroke by at
    # most one pixel), and the stroke keeps its area.
    assert not specified[~cv2.dilate(stroke.view(np.uint8), np.ones((3, 3))).view(bool)].any()
    assert (specified[stroke] > 0).all()
    # The ink's levels follow MNIST's ink: a saturated core, a median near MNIST's.
    ink = specified[specified > 0]
    mnist_ink_median = 1 + np.searchsorted(reference.ink_cdf, 0.5)
    assert ink.max() >= 250
    assert abs(float(np.median(ink)) - mnist_ink_median) <= 40
    # the mapping keeps order: a brighter pixel never becomes darker than a dimmer one
    lut = specification_lut(image, reference)
    assert np.all(np.diff(lut.astype(int)) >= 0)


def test_bold_or_unevenly_lit_digit_keeps_all_its_strokes():
    """A digit with more ink than the average MNIST digit, its left half fainter (a
    shadow): no stroke may be specified away to reach MNIST's share of background."""
    reference = load_reference()
    image = np.zeros((28, 28), np.uint8)
    cv2.circle(image, (14, 14), 9, 200, 5)
    image[:, :14] = (image[:, :14] * 0.45).astype(np.uint8)   # the faint left half
    specified = specify(image, reference)
    assert (specified[image > 0] > 0).mean() > 0.97
    assert specified[:, :14].max() >= 200 and specified[:, 14:].max() >= 200


def test_a_frames_crops_are_corrected_each_on_its_own():
    """The pipeline corrects all crops of a frame in one call; each crop must come out as
    if corrected alone, whatever its neighbours look like (ink touching the crop edges
    included, where a batched blur could leak into the next crop)."""
    reference = load_reference()
    rng = np.random.default_rng(3)
    crops = np.clip(rng.normal(60, 8, (4, 28, 28)), 0, 255).astype(np.uint8)
    crops[0, 0:3, :] = 200   # ink along the top edge
    crops[1, 25:, :] = 230   # ink along the bottom edge
    crops[2, :, 10:14] = 180
    crops[3] = 0             # a blank crop
    batched = specify_batch(crops, reference)
    for crop, out in zip(crops, batched, strict=True):
        assert np.array_equal(out, specify(crop, reference))
    stretched = gamma(crops, 0.5)
    for crop, out in zip(crops, stretched, strict=True):
        assert np.array_equal(out, gamma(crop, 0.5))
    assert not stretched[3].any()  # nothing to stretch: stays black


def test_gamma_stretches_to_full_range():
    image = np.array([[60, 100], [140, 180]], np.uint8)
    out = gamma(image, 0.5)
    assert out.min() == 0 and out.max() == 255


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), float)])
def test_locate_rejects_wrong_input(bad):
    with pytest.raises(ValueError, match="grayscale"):
        locate(bad)
