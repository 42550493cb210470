import json

import numpy as np
import pytest

from edge import mnist
from train.augment import AugmentConfig, augment_batch, ink_box, random_affine


@pytest.fixture(scope="module")
def digits(mnist_dir):
    train = mnist.load_split("train", mnist_dir)
    return train.images[:500], train.labels[:500]


def test_augmentation_keeps_digits_inside_the_frame(digits):
    images, _ = digits
    rng = np.random.default_rng(0)
    config = AugmentConfig(camera_probability=0.0)
    for image in images:
        moved = random_affine(image, rng, config)
        box = ink_box(moved > 0)
        assert box is not None
        x0, y0, x1, y1 = box
        assert x0 >= 1 and y0 >= 1 and x1 <= 26 and y1 <= 26
        # Ink is moved, not lost: the total brightness stays within the zoom range.
        ratio = moved.astype(float).sum() / image.astype(float).sum()
        assert 0.7 < ratio < 1.35


def test_constant_fill_draws_no_fake_strokes():
    # A digit touching the left border: reflect or wrap fill would copy it to the right.
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 0:3] = 255
    rng = np.random.default_rng(1)
    config = AugmentConfig(camera_probability=0.0)
    for _ in range(50):
        moved = random_affine(image, rng, config)
        assert moved[:, 14:].max() == 0


def test_augmentation_changes_images_but_not_labels(digits):
    from train.data import EpochAugmenter

    images, labels = digits
    weights = np.arange(len(labels), dtype=np.float64)
    augmenter = EpochAugmenter(images, labels, batch_size=64, seed=3, sample_weights=weights)
    x, y, w = augmenter.epoch_arrays(0)
    order = w.astype(int)  # the weights are the original positions: they reveal the order
    assert sorted(order) == list(range(len(labels))) and not np.array_equal(order, np.sort(order))
    assert np.array_equal(y, labels[order])
    assert x.shape == (len(labels), 28, 28, 1) and x.dtype == np.float32
    assert not np.allclose(x[..., 0], images[order] / 255.0)
    # the same epoch is reproducible; the next epoch is shuffled and augmented afresh
    assert np.array_equal(x, augmenter.epoch_arrays(0)[0])
    assert not np.array_equal(w, augmenter.epoch_arrays(1)[2])


def test_fit_sees_each_epoch_once_in_order(digits):
    """The tf.data pipeline asks for a fresh epoch each time fit starts one, resumed
    runs included (fit starting at epoch 2 gets epoch 2's data)."""
    import keras

    from train.data import EpochAugmenter

    images, labels = digits
    seen = []

    class Recording(EpochAugmenter):
        def epoch_arrays(self, epoch):
            seen.append(epoch)
            return super().epoch_arrays(epoch)

    augmenter = Recording(images[:256], labels[:256], batch_size=64, seed=3)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(augmenter.dataset(), epochs=2, callbacks=[augmenter.callback()],
                        verbose=0)
    model.fit(augmenter.dataset(), initial_epoch=2, epochs=3,
              callbacks=[augmenter.callback()], verbose=0)
    assert seen == [0, 1, 2]
    assert len(history.history["loss"]) == 2 and len(augmenter) == 4


def test_camera_like_augmentation_squeezes_and_blurs(digits):
    images, _ = digits
    rng = np.random.default_rng(5)
    out = augment_batch(images[:200], rng, AugmentConfig(camera_probability=1.0))
    # some images get a lifted black level (contrast squeeze), none lose all their ink
    assert (out.reshape(200, -1).min(axis=1) > 10).sum() >= 20
    assert (out.reshape(200, -1).max(axis=1) > 60).all()


def test_samme_upweights_the_misclassified():
    from train.boosting import samme_update

    weights = np.ones(100)
    wrong = np.zeros(100)
    wrong[:5] = 1
    new, alpha, error = samme_update(weights, wrong, learning_rate=1.0)
    assert error == pytest.approx(0.05)
    assert alpha == pytest.approx(np.log(0.95 / 0.05) + np.log(9))
    assert new[:5].min() > new[5:].max()
    assert new.mean() == pytest.approx(1.0)


@pytest.mark.slow
def test_learning_rate_warms_up_then_anneals_to_a_small_fraction():
    from train.run import TrainConfig, learning_rate_at

    config = TrainConfig(run_dir="unused", epochs=20, warmup_epochs=1, learning_rate=2e-3)
    rates = [learning_rate_at(config, epoch) for epoch in range(config.epochs)]
    assert rates[0] < rates[1] == pytest.approx(2e-3)
    assert all(b < a for a, b in zip(rates[1:-1], rates[2:], strict=True))
    assert rates[-1] < 0.03 * 2e-3
    exponential = TrainConfig(run_dir="unused", schedule="exponential",
                              learning_rate_decay=0.5)
    assert learning_rate_at(exponential, 3) == pytest.approx(exponential.learning_rate / 8)
    with pytest.raises(ValueError, match="schedule"):
        learning_rate_at(TrainConfig(run_dir="unused", schedule="step"), 0)


def test_quick_training_end_to_end(quick_run):
    report = json.loads((quick_run / "report.json").read_text())
    assert report["quick"] is True
    members = report["members"]
    assert len(members) == 3
    for member in members:
        assert (quick_run / member["name"] / "model.keras").stat().st_size > 10_000
        assert (quick_run / member["name"] / "history.csv").exists()
    accuracy = report["test_accuracy"]
    assert accuracy["ensemble"] > 0.6  # chance is 0.1
    assert len(accuracy["members"]) == 3
    assert {"average", "boosted"} <= set(accuracy)
    assert report["combiner"] in ("average", "boosted")
    assert report["train_seconds"] > 0 and report["seed"] == 1
    assert {"tensorflow", "keras", "numpy"} <= set(report["versions"])
    for plot in ("training_curves", "confusion_matrix", "worst_errors", "feature_maps"):
        assert (quick_run / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_same_seed_same_result(tmp_path, mnist_dir):
    from train.run import quick_config, train

    def once(name):
        config = quick_config(tmp_path / name, data_dir=mnist_dir, members=["strided"],
                              epochs=1, train_limit=2000, test_limit=500, seed=7)
        return train(config)

    first, second = once("a"), once("b")
    assert first["test_accuracy"] == second["test_accuracy"]
    assert first["members"][0]["val_accuracy"] == second["members"][0]["val_accuracy"]


@pytest.mark.slow
def test_resume_refuses_to_overwrite_and_skips_finished_members(quick_run):
    from train.run import quick_config, train

    with pytest.raises(FileExistsError, match="--resume"):
        train(quick_config(quick_run))
    report = train(quick_config(quick_run), resume=True)  # every member is done: no training
    assert report["train_seconds"] == json.loads(
        (quick_run / "state.json").read_text())["train_seconds"]


def _conv_channels(model):
    return [layer.output.shape[-1] for layer in model.layers
            if layer.__class__.__name__ == "Conv2D"]


def test_default_configuration_builds_the_shipped_members():
    """`digitcam train` with its defaults must reproduce the shipped model's layout."""
    from pathlib import Path

    import keras

    from tests.conftest import ROOT
    from train.models import build_member
    from train.run import TrainConfig

    models_dir = ROOT / "models"
    config = TrainConfig(run_dir=Path("unused"))
    report = json.loads((models_dir / "report.json").read_text())
    for member in report["members"]:
        shipped = keras.models.load_model(models_dir / "keras" / f"{member['name']}.keras")
        built = build_member(member["kind"], width=config.width,
                             dense_units=config.dense_units,
                             aligned_channels=config.aligned_channels)
        assert _conv_channels(built) == _conv_channels(shipped)
        assert built.count_params() == shipped.count_params() == member["params"]


def test_aligned_channels_are_multiples_of_eight():
    from train.models import build_member

    for kind in ("resnet", "plain", "strided"):
        channels = _conv_channels(build_member(kind, width=24, aligned_channels=True))
        assert all(c % 8 == 0 for c in channels), (kind, channels)
        assert channels[0] == 8
