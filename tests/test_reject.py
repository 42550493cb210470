"""The "not a digit" answer: training negatives, the eleven-output model, the runtime
dropping what is not a digit, and the scores that report it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge.bundle import REJECT_LABEL, BundleError, open_bundle
from edge.classifier import Classifier
from edge.evaluate import score
from edge.pipeline import Frame, Pipeline
from edge.reading.numbers import in_words
from edge.reading.split import alternative_score
from tests.conftest import blank_frame


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    from edge import mnist

    return mnist.load_split("test", mnist_dir)


@pytest.fixture(scope="session")
def quick_reject_run(tmp_path_factory, mnist_dir):
    """A --quick training run with the reject answer (real Keras training)."""
    from train.run import quick_config, train

    run_dir = tmp_path_factory.mktemp("quick-reject") / "run"
    train(quick_config(run_dir, data_dir=mnist_dir, negative_share=0.2))
    return run_dir


@pytest.fixture(scope="session")
def quick_reject_bundle(quick_reject_run, tmp_path_factory):
    from convert.build import convert_run

    out = tmp_path_factory.mktemp("bundle-reject") / "quick-reject-int8"
    convert_run(quick_reject_run, out, representative_size=200, test_limit=1000,
                measure_latency=False, max_accuracy_drop=0.03, min_agreement=0.95)
    return out


@pytest.fixture(scope="session")
def quick_gate_run(quick_run, tmp_path_factory, mnist_dir):
    """A "not a digit" gate trained beside the quick run's ten-class members."""
    from train.gate import train_gate
    from train.run import quick_config

    run_dir = tmp_path_factory.mktemp("quick-gate") / "run"
    train_gate(quick_config(run_dir, data_dir=mnist_dir, negative_share=0.2,
                            init_from=quick_run, epochs=2))
    return run_dir


# -- negatives ------------------------------------------------------------------------


def test_negatives_are_laid_out_like_runtime_digit_crops(mnist_dir):
    """Each negative went through the runtime's own layout: ink inside the 20x20 box,
    centred by its mass in 28x28, and histogram specified (background exactly 0)."""
    from edge import mnist
    from train.negatives import SHARES, make_negatives

    train = mnist.load_split("train", mnist_dir)
    crops, sources = make_negatives(400, 11, train.images[:3000], train.labels[:3000])
    again, _ = make_negatives(400, 11, train.images[:3000], train.labels[:3000])
    assert crops.shape == (400, 28, 28) and crops.dtype == np.uint8
    assert np.array_equal(crops, again)  # seeded
    assert set(sources) == set(SHARES)
    for crop in crops:
        x, y, w, h = cv2.boundingRect(crop)
        assert max(w, h) <= 22  # the 20x20 box, and the 3x3 smoothing of specification
        m = cv2.moments(crop)
        assert abs(m["m10"] / m["m00"] - 14) < 2.5 and abs(m["m01"] / m["m00"] - 14) < 2.5
    assert (crops == 0).mean() > 0.5  # MNIST-like background


def test_negatives_leave_out_what_is_also_a_one():
    """A single straight bar (an l, a grid line, a sheet edge) is a 1 as well: it must not
    be taught as "not a digit". A tick or a cross is not a bar."""
    from train.negatives import _too_like_a_one

    bar = np.zeros((40, 40), np.uint8)
    cv2.line(bar, (15, 3), (25, 36), 255, 4)
    tick = np.zeros((40, 40), np.uint8)
    cv2.polylines(tick, [np.int32([[5, 20], [15, 34], [36, 4]])], False, 255, 4)
    plus = np.zeros((40, 40), np.uint8)
    cv2.line(plus, (20, 2), (20, 38), 255, 3)
    cv2.line(plus, (2, 20), (38, 20), 255, 3)
    assert _too_like_a_one(bar)
    assert not _too_like_a_one(tick) and not _too_like_a_one(plus)


def test_negative_pages_hold_marks_and_no_digit(tmp_path):
    from edge.scenes import write_scenes
    from tests.conftest import read_jsonl

    labels = read_jsonl(write_scenes(tmp_path, 4, "negatives", seed=3))
    for label in labels:
        assert label["digits"] == [] and label["numbers"] == [] and label["reading"] == ""
        assert label["style"] == "negatives"
        gray = cv2.imread(label["source"], cv2.IMREAD_GRAYSCALE)
        assert gray.std() > 5  # a page on a desk, with something written on it


# -- training -------------------------------------------------------------------------


def test_warm_start_keeps_every_digit_answer(mnist_test):
    """A ten-class member grown to eleven outputs answers the digits as before (same
    ratios between them) and at first rarely says "not a digit"."""
    from train.models import build_member, warm_start

    old = build_member("plain", width=8, dense_units=16, name="member1_plain")
    new = build_member("plain", width=8, dense_units=16, name="member1_plain",
                       num_classes=11)
    warm_start(new, old)
    x = mnist_test.images[:64].astype(np.float32)[..., None] / 255
    p_old = old.predict(x, verbose=0)
    p_new = new.predict(x, verbose=0)
    digits = p_new[:, :10] / p_new[:, :10].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(digits, p_old, atol=1e-5)
    assert p_new[:, 10].max() < 0.2


def test_warm_start_refuses_another_kind_of_member():
    from train.models import build_member, warm_start

    with pytest.raises(ValueError, match="not the same kind"):
        warm_start(build_member("plain", width=8, dense_units=16),
                   build_member("resnet", width=8, dense_units=16))


@pytest.mark.slow
def test_reject_run_reports_mnist_with_and_without_the_reject_answer(quick_reject_run):
    report = json.loads((quick_reject_run / "report.json").read_text())
    acc = report["test_accuracy"]
    assert report["classes"] == 11
    # "not a digit" on a test digit is a wrong answer, so the ensemble figure cannot
    # exceed the one that reads the best of the ten digits alone
    assert acc["ensemble_without_reject"] >= acc["ensemble"]
    assert acc["false_rejections"] == pytest.approx(
        acc["ensemble_without_reject"] - acc["ensemble"], abs=0.02)
    assert acc["negatives_rejected"] > 0.5  # even the quick model learns most of them
    assert (quick_reject_run / "confusable_negatives.png").stat().st_size > 10_000


@pytest.mark.slow
def test_eleven_output_bundle_says_which_kind_it_is(quick_reject_bundle, quick_bundle):
    reject = open_bundle(quick_reject_bundle)
    assert reject.manifest["labels"][-1] == REJECT_LABEL and reject.reject_index == 10
    assert reject.manifest["output"]["shape"][-1] == 11
    assert "false_rejections" in reject.manifest["accuracy"]
    assert open_bundle(quick_bundle).reject_index is None  # ten-class bundles: as before
    with Classifier(quick_reject_bundle) as classifier:
        assert classifier.classify(np.zeros((3, 28, 28), np.uint8)).shape == (3, 11)
        assert classifier.classify(np.zeros((0, 28, 28), np.uint8)).shape == (0, 11)


def test_the_gate_bias_keeps_false_rejections_under_the_limit():
    from train.gate import choose_bias, gated

    rng = np.random.default_rng(0)
    digits = rng.beta(1, 30, 5000)  # mostly near 0, a long tail
    digits[:20] = 0.97  # twenty hard digits the gate finds letter-like
    bias = choose_bias(digits, max_false_rejections=0.001)
    assert (gated(digits, bias) > 0.5).mean() <= 0.001
    assert bias < 0
    assert choose_bias(np.full(100, 0.01)) == 0.0  # never made bolder than it was trained


@pytest.mark.slow
def test_gate_leaves_the_digit_members_as_they_were(quick_gate_run, quick_run):
    """Only the gate is trained: without the reject answer the ensemble reads the test
    digits exactly as the ten-class members did, and the gated graph's eleven outputs
    still sum to one."""
    from convert.ensemble import build_ensemble, load_gate, load_members

    source = json.loads((quick_run / "report.json").read_text())["test_accuracy"]
    report = json.loads((quick_gate_run / "report.json").read_text())
    acc = report["test_accuracy"]
    assert acc["ensemble_without_reject"] == pytest.approx(source["ensemble"], abs=1e-9)
    assert acc["ensemble"] == pytest.approx(
        acc["ensemble_without_reject"] - acc["false_rejections_of_correct_digits"], abs=1e-9)
    assert report["classes"] == 11 and report["gate"]["bias"] <= 0
    members, weights, _ = load_members(quick_gate_run)
    graph = build_ensemble(members, weights, gate=load_gate(quick_gate_run, report))
    x = np.random.default_rng(1).integers(0, 255, (8, 28, 28, 1)).astype(np.float32)
    out = graph.predict(x, verbose=0)
    assert out.shape == (8, 11)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_manifest_with_unknown_labels_is_refused(bundle_copy):
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    for labels in (["a", "b"], [*map(str, range(10)), "letter"], "0123456789"):
        path.write_text(json.dumps({**manifest, "labels": labels}))
        with pytest.raises(BundleError, match="labels"):
            open_bundle(bundle_copy)


# -- runtime --------------------------------------------------------------------------


def _boxes(*spans, y=100, h=40):
    return [(x, y, w, h) for x, w in spans]


def test_digit_shaped_letters_inside_a_word_are_letters():
    # "Total": T, t, a rejected; o and l read as 0 and 1, letters close together
    boxes = _boxes((100, 30), (134, 28), (166, 20), (190, 28), (222, 10))
    rejected = [True, False, True, True, False]
    assert in_words(boxes, rejected) == {1, 4}


def test_a_number_a_space_from_a_word_keeps_its_digits():
    # "Sum = 31": S u m and = rejected; 3 and 1 a space to the right
    boxes = _boxes((100, 28), (130, 26), (158, 30), (230, 30), (320, 30), (356, 20))
    rejected = [True, True, True, True, False, False]
    assert in_words(boxes, rejected) == set()
    # two specks beside a 7 are not letters
    specks = [(100, 100, 30, 40), (133, 110, 4, 5), (139, 120, 4, 4)]
    assert in_words(specks, [False, True, True]) == set()
    assert in_words(_boxes((100, 30)), [False]) == set()


def test_a_cut_the_model_rejects_scores_below_one_it_reads():
    class Box:
        view_box = (0, 0, 20, 30)

    pieces = [Box(), Box()]
    read = np.zeros((2, 11))
    read[:, 3] = 0.9
    read[:, 10] = 0.1
    rejected = np.zeros((2, 11))
    rejected[:, 10] = 0.9  # "not a digit" is the answer: its best digit is tiny
    rejected[:, 3] = 0.1
    assert alternative_score(read, pieces) > alternative_score(rejected, pieces) + 1


def _written(text_left: str, digits: list[int], mnist_test, font=cv2.FONT_HERSHEY_SIMPLEX):
    """A white page: ``text_left`` in print, then MNIST test digits, 90 px tall."""
    frame = blank_frame()[..., 0].copy()
    cv2.putText(frame, text_left, (30, 280), font, 2.6, 30, 6, cv2.LINE_AA)
    (w, _), _ = cv2.getTextSize(text_left, font, 2.6, 6)
    x = 30 + w + 70
    for digit in digits:
        image = mnist_test.images[np.flatnonzero(mnist_test.labels == digit)[0]]
        big = cv2.resize(image, (96, 96), interpolation=cv2.INTER_LINEAR)
        region = frame[190:286, x:x + 96]
        np.minimum(region, 255 - big, out=region)
        x += 105
    return frame


def test_shipped_model_reads_the_number_and_not_the_word(shipped_bundle, mnist_test):
    with Classifier(shipped_bundle) as classifier:
        if classifier.reject_index is None:
            pytest.skip("the shipped model has no reject answer")
        pipeline = Pipeline(classifier)
        for word, digits in (("Sum =", [3, 1]), ("Qty:", [4, 2]), ("kWh", [7, 0, 5])):
            frame = _written(word, digits, mnist_test)
            (word_width, _), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_SIMPLEX, 2.6, 6)
            result = pipeline.process(Frame(frame, word, 0, 0.0))
            # the word gives no digit, the number beside it stays one number
            assert len(result["digits"]) == len(digits), (word, result["digits"])
            assert all(d["box"][0] > 30 + word_width for d in result["digits"]), word
            assert len(result["numbers"]) == 1
            assert result["rejected"] >= 2


def test_ten_class_bundle_reads_as_before_and_rejects_nothing(quick_bundle, mnist_test):
    frame = _written("Sum =", [3, 1], mnist_test)
    with Classifier(quick_bundle) as classifier:
        result = Pipeline(classifier).process(Frame(frame, "x", 0, 0.0))
    assert result["rejected"] == 0
    assert len(result["digits"]) >= 3  # the letters come back as digits, as they always did


def test_golden_set_reports_rejections(shipped_bundle, quick_bundle):
    from edge.golden import evaluate

    with Classifier(quick_bundle) as classifier:
        ten = evaluate(classifier, samples_dir=None)
    assert ten.false_rejections is None and ten.negatives_rejected is None
    with Classifier(shipped_bundle) as classifier:
        if classifier.reject_index is None:
            pytest.skip("the shipped model has no reject answer")
        golden = evaluate(classifier, samples_dir=None)
    assert golden.negatives == 300
    assert golden.false_rejections <= 0.01
    assert golden.negatives_rejected >= 0.7  # the shipped gate: 75 % of unseen crops


def test_false_digits_per_frame_counts_digits_read_on_empty_pages():
    labels = [{"source": "a.png", "digits": [], "boxes": [], "reading": "", "numbers": []},
              {"source": "b.png", "digits": [4], "boxes": [[10, 10, 20, 30]], "reading": "4",
               "numbers": ["4"]}]
    results = [{"source": "a.png", "digits": [{"digit": 1, "box": [300, 300, 10, 30]}],
                "reading": "1", "numbers": ["1"]},
               {"source": "b.png", "digits": [{"digit": 4, "box": [10, 10, 20, 30]},
                                              {"digit": 7, "box": [200, 10, 20, 30]}],
                "reading": "47", "numbers": ["4", "7"]}]
    assert score(results, labels)["false_digits_per_frame"] == pytest.approx(1.0)
    assert score(results[:1], labels[:1])["false_digits_per_frame"] == pytest.approx(1.0)


def test_splitting_proposes_a_bounded_number_of_pieces():
    """Many wide groups in one frame (a row of joined handwriting, words) cannot make one
    invoke classify hundreds of pieces: the proposals stop at MAX_SPLIT_PIECES."""
    from edge.pipeline import MAX_SPLIT_PIECES, split_all
    from edge.reading.locate import Digit

    ink = np.zeros((40, 200), np.uint8)
    for x in range(0, 200, 25):
        cv2.circle(ink, (x + 12, 20), 11, 255, 3)  # eight touching rings
    digits = [Digit((0, i * 50, 200, 40), ink, (0, i * 50, 200, 40)) for i in range(12)]
    alternatives = split_all(digits)
    pieces = sum(len(alt) for alts in alternatives for alt in alts)
    assert 0 < pieces <= MAX_SPLIT_PIECES
    assert sum(1 for alts in alternatives if alts) >= 2  # the budget still served several
