import json

import numpy as np
import pytest

from edge import mnist
from edge.bundle import BundleError, open_bundle
from edge.classifier import Classifier

pytestmark = pytest.mark.slow


def test_bundle_has_the_promised_manifest(quick_bundle):
    manifest = json.loads((quick_bundle / "manifest.json").read_text())
    assert manifest["input"]["dtype"] == "uint8"
    assert manifest["input"]["shape"] == [-1, 28, 28, 1]  # resizable batch
    assert manifest["input"]["scale"] == 1.0 and manifest["input"]["zero_point"] == 0
    assert manifest["output"]["shape"] == [-1, 10]
    assert manifest["labels"] == [str(d) for d in range(10)]
    assert manifest["preprocessing"]["polarity"] == "ink_bright"
    assert manifest["preprocessing"]["reference_histogram"].startswith("mnist-train-")
    assert set(manifest["accuracy"]) >= {"float", "int8"}
    assert manifest["size_bytes"] == (quick_bundle / "model.tflite").stat().st_size
    assert manifest["training"]["quick"] is True


def test_int8_matches_float_on_a_test_subset(quick_bundle, mnist_dir):
    manifest = json.loads((quick_bundle / "manifest.json").read_text())
    test = mnist.load_split("test", mnist_dir)
    with Classifier(quick_bundle) as classifier:
        probs = classifier.classify_many(test.images[:1000])
    accuracy = float((probs.argmax(1) == test.labels[:1000]).mean())
    assert accuracy == pytest.approx(manifest["accuracy"]["int8"], abs=1e-9)
    assert abs(manifest["accuracy"]["int8"] - manifest["accuracy"]["float"]) <= 0.02
    # one invoke for a whole batch, any batch size
    with Classifier(quick_bundle) as classifier:
        assert classifier.classify(test.images[:7]).shape == (7, 10)
        assert classifier.classify(test.images[:1]).shape == (1, 10)


def test_int8_is_a_fraction_of_float32(quick_bundle):
    variants = quick_bundle.with_name(quick_bundle.name + ".variants")
    sizes = {p.stem: p.stat().st_size for p in variants.glob("*.tflite")}
    assert sizes["int8"] * 3 < sizes["float32"]


def test_parity_gate_uses_the_issue_thresholds():
    from convert.build import parity_ok

    assert parity_ok(0.9970, 0.9970, 1.0)
    assert parity_ok(0.9970, 0.9965, 0.9990)  # exactly 0.05 points lower: allowed
    assert not parity_ok(0.9970, 0.9964, 0.9995)  # 0.06 points lower
    assert not parity_ok(0.9970, 0.9975, 0.9989)  # better but disagrees too often


def test_hash_mismatch_is_rejected(bundle_copy):
    model = bundle_copy / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        open_bundle(bundle_copy)


def test_truncated_model_is_rejected(bundle_copy):
    model = bundle_copy / "model.tflite"
    model.write_bytes(model.read_bytes()[:4000])
    with pytest.raises(BundleError, match="truncated"):
        open_bundle(bundle_copy)


def test_tensor_mismatch_is_rejected(bundle_copy):
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["input"]["dtype"] = "int8"
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="input tensor dtype is uint8, the manifest says int8"):
        Classifier(bundle_copy).open()


def test_unknown_preprocessing_is_rejected(bundle_copy):
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["preprocessing"]["polarity"] = "ink_dark"
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="polarity"):
        open_bundle(bundle_copy)


def test_representative_set_has_no_test_image(mnist_dir):
    from convert.representative import sample

    rep = sample(300, seed=0, augmented_fraction=0.0, data_dir=mnist_dir)
    train = mnist.load_split("train", mnist_dir)
    test = mnist.load_split("test", mnist_dir)
    assert np.array_equal(rep.images, train.images[rep.train_indices])
    assert rep.describe()["per_class"] == [30] * 10
    test_hashes = {image.tobytes() for image in test.images}
    assert not any(image.tobytes() in test_hashes for image in rep.images)


def test_convert_command_exits_non_zero_and_writes_no_bundle_when_parity_fails(
        quick_run, tmp_path):
    from tests.conftest import digitcam

    # An agreement floor above 100 % can never be met: the gate must fail the command.
    result = digitcam("convert", quick_run, "-o", tmp_path / "b", "--variants", "",
                      "--no-latency", "--test-limit", "300", "--representative-size", "50",
                      "--min-agreement", "100.1", timeout=600)
    assert result.returncode == 1
    assert "no bundle written" in result.stderr
    assert not (tmp_path / "b").exists()


def test_same_results_under_the_tflite_runtime_interpreter_api(quick_bundle, mnist_dir):
    """tflite_runtime and tensorflow.lite share one Interpreter API; the bundle must give
    the same probabilities under it as under ai_edge_litert."""
    from edge.runtime import find_runtime

    images = mnist.load_split("test", mnist_dir).images[:64]
    outputs = {}
    for name in ("ai_edge_litert", "tensorflow"):
        with Classifier(quick_bundle, runtime=find_runtime(name)) as classifier:
            outputs[name] = classifier.classify(images)
    assert np.array_equal(outputs["ai_edge_litert"], outputs["tensorflow"])


def _nested_conv_layers(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _nested_conv_layers(layer)
        elif type(layer) is keras.layers.Conv2D:
            yield layer


def test_ensemble_graph_computes_what_the_members_compute(mnist_dir):
    """The converter rewrites each member's first convolution (one input channel) as a
    depthwise convolution of the repeated image, for XNNPACK's sake: the shipped members
    must give the same probabilities through it as called directly."""
    import keras

    from convert.ensemble import build_ensemble
    from tests.conftest import ROOT

    report = json.loads((ROOT / "models" / "report.json").read_text())
    members = [keras.models.load_model(ROOT / "models" / "keras" / f"{m['name']}.keras")
               for m in report["members"]]
    weights = report["member_weights"]
    ensemble = build_ensemble(members, weights)
    assert not [layer.name for layer in _nested_conv_layers(ensemble)
                if layer.input.shape[-1] == 1]  # every one-channel convolution rewritten
    images = mnist.load_split("test", mnist_dir).images[:500, ..., None].astype(np.float32)
    direct = sum(w * m.predict(images / 255.0, verbose=0) for m, w in zip(members, weights,
                                                                            strict=True))
    direct /= sum(weights)
    through = ensemble.predict(images, verbose=0)
    np.testing.assert_allclose(through, direct, atol=1e-5)
    assert (through.argmax(1) == direct.argmax(1)).all()


def test_member_whose_image_feeds_two_layers_is_used_as_it_is():
    import keras

    from convert.ensemble import build_ensemble, with_depthwise_stem

    image = keras.Input((28, 28, 1))
    a = keras.layers.Conv2D(4, 3, padding="same")(image)
    b = keras.layers.Conv2D(4, 1)(image)  # a second use of the image: no rewrite
    y = keras.layers.Dense(10, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Add()([a, b])))
    member = keras.Model(image, y)
    assert with_depthwise_stem(member) is None
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(build_ensemble([member], [1.0]).predict(images, verbose=0),
                               member.predict(images / 255.0, verbose=0), atol=1e-6)
