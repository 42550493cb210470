"""Train the digitcam ensemble: setup, data, members (boosted), evaluate, report.

Reads top to bottom like a keras-io example. ``digitcam train`` calls :func:`train`.
A run directory holds everything: each member's checkpoints and final model, the
boosting state, ``report.json`` and the PNG plots. An interrupted run continues with
``--resume`` from the last completed epoch.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    run_dir: Path
    data_dir: Path | None = None
    seed: int = 1
    members: list[str] = field(default_factory=lambda: ["resnet", "plain", "strided"])
    width: int = 24  # channels of the middle stage; the edge latency scales with its square
    aligned_channels: bool = False  # every channel count a multiple of 8 (see models.py)
    dense_units: int = 128
    dropout_rate: float = 0.4
    epochs: int = 25
    batch_size: int = 128
    learning_rate: float = 2e-3  # peak, reached after the warm-up
    schedule: str = "cosine"  # "cosine": warm-up then cosine annealing; "exponential"
    warmup_epochs: int = 1
    learning_rate_decay: float = 0.84  # per epoch, for the exponential schedule only
    camera_probability: float = 0.3  # share of training digits given camera-like damage
    patience: int = 8
    validation_size: int = 5000
    train_limit: int | None = None
    test_limit: int | None = None
    boost: bool = True
    boost_learning_rate: float = 0.15
    # The reject answer: generated non-digits (train/negatives.py) as an eleventh class,
    # as this share of the training digits; 0 trains the ten-class ensemble.
    negative_share: float = 0.0
    negative_weight: float = 1.0  # loss weight of each negative, relative to a digit
    negative_pages: int = 0  # also the runtime's own crops of this many generated pages
    # Start each member from a trained member of the same kind (a run directory, or a
    # folder of <member name>.keras files such as models/keras): fine-tuning, not training.
    init_from: Path | None = None
    quick: bool = False

    @property
    def num_classes(self) -> int:
        return 11 if self.negative_share > 0 else 10


def quick_config(run_dir: Path, **overrides) -> TrainConfig:
    """A tiny end-to-end configuration for tests and CI (well under two minutes)."""
    values = dict(run_dir=run_dir, width=8, dense_units=32, epochs=2, warmup_epochs=0,
                  train_limit=6000, validation_size=1000, test_limit=2000,
                  learning_rate=3e-3, quick=True)
    values.update(overrides)
    return TrainConfig(**values)


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """The learning rate of an epoch (0-based); a pure function of the epoch, so a resumed
    run continues the same schedule."""
    if config.schedule == "exponential":
        return config.learning_rate * config.learning_rate_decay ** epoch
    if config.schedule != "cosine":
        raise ValueError(f"unknown schedule {config.schedule!r}; use 'cosine' or 'exponential'")
    if epoch < config.warmup_epochs:
        return config.learning_rate * (epoch + 1) / (config.warmup_epochs + 1)
    span = max(config.epochs - config.warmup_epochs, 1)
    progress = (epoch - config.warmup_epochs) / span
    floor = config.learning_rate / 100
    return floor + (config.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def _load_state(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"members": [], "train_seconds": 0.0}


def _negatives(config: TrainConfig, run_dir: Path, splits) -> dict[str, np.ndarray]:
    """The run's negative crops for training, validation and the test report, made once
    and kept in the run directory (a resumed run sees the same ones)."""
    from train.negatives import make_negatives

    path = run_dir / "negatives.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    sizes = {"train": round(config.negative_share * len(splits.x_train)),
             "val": max(200, round(config.negative_share * len(splits.x_val))),
             "test": 2000 if not config.quick else 400}
    made = {}
    from tqdm import tqdm

    for offset, (part, count) in enumerate(sizes.items()):
        with tqdm(total=count, desc=f"negatives ({part})", unit="crop",
                  disable=not sys.stderr.isatty()) as bar:
            made[part], made[part + "_source"] = make_negatives(
                count, config.seed * 1000 + 500 + offset, splits.x_train, splits.y_train,
                progress=bar.update)
    if config.negative_pages:
        from edge import mnist
        from train.negatives import page_crops

        test = mnist.load_split("test", config.data_dir)  # scene digits only mark places
        with tqdm(total=config.negative_pages, desc="negatives (pages)", unit="page",
                  disable=not sys.stderr.isatty()) as bar:
            pages = page_crops(config.negative_pages, config.seed * 1000 + 700,
                               (test.images, test.labels), progress=bar.update)
        made["train"] = np.concatenate([made["train"], pages])
        made["train_source"] = np.concatenate([made["train_source"],
                                               np.full(len(pages), "pages")])
        logger.info("%d runtime crops of %d generated pages", len(pages),
                    config.negative_pages)
    np.savez_compressed(path, **made)
    return made


def member_file(init_from: Path, name: str) -> Path:
    """A trained member's file: ``<name>.keras`` in a folder such as models/keras, or
    ``<name>/model.keras`` in a run directory."""
    for candidate in (init_from / f"{name}.keras", init_from / name / "model.keras"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"--init-from {init_from}: no {name}.keras or {name}/model.keras")


def _trained_member(init_from: Path, name: str):
    import keras

    return keras.models.load_model(member_file(init_from, name))


def _save_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _save_inference_copy(model, path: Path) -> None:
    """Save weights and architecture only (no optimizer state): a third of the size."""
    import keras

    clone = keras.Model.from_config(model.get_config())  # uncompiled: no optimizer state
    clone.set_weights(model.get_weights())
    clone.save(path)


def _epoch_timer(path: Path):
    """A callback that adds each epoch's wall time to ``path``, so the training time of a
    member survives interruptions and ``--resume``."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            total = float(path.read_text()) if path.exists() else 0.0
            path.write_text(str(total + time.time() - self._started))

    return EpochTimer()


def train(config: TrainConfig, resume: bool = False) -> dict:
    # --- setup -----------------------------------------------------------------------
    import keras
    import tensorflow as tf

    from train import boosting, plots
    from train.augment import AugmentConfig
    from train.data import EpochAugmenter, load_splits, to_model_input
    from train.models import build_member, warm_start

    run_dir = Path(config.run_dir)
    state_path = run_dir / "state.json"
    if state_path.exists() and not resume:
        raise FileExistsError(f"{run_dir} already holds a run: pass --resume to continue it, "
                              "or choose another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    state = _load_state(state_path)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2, default=str))
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    logger.info("training on %s", "GPU " + str(gpus) if gpus else "CPU")
    verbose = 1 if sys.stdout.isatty() else 2

    # --- data ------------------------------------------------------------------------
    splits = load_splits(config.data_dir, config.validation_size, config.seed,
                         config.train_limit)
    x_train, y_train, y_val = splits.x_train, splits.y_train, splits.y_val
    x_val = to_model_input(splits.x_val)
    loss_weights = np.ones(len(x_train))
    negatives = None
    if config.num_classes == 11:
        negatives = _negatives(config, run_dir, splits)
        reject = config.num_classes - 1
        x_train = np.concatenate([x_train, negatives["train"]])
        y_train = np.concatenate([y_train, np.full(len(negatives["train"]), reject)])
        loss_weights = np.concatenate([loss_weights, np.full(len(negatives["train"]),
                                                             config.negative_weight)])
        x_val = np.concatenate([x_val, to_model_input(negatives["val"])])
        y_val = np.concatenate([y_val, np.full(len(negatives["val"]), reject)])
        logger.info("with %d negatives for training, %d for validation",
                    len(negatives["train"]), len(negatives["val"]))
    x_train_clean = to_model_input(x_train)
    logger.info("train %d, validation %d, test %d images", len(x_train), len(x_val),
                len(splits.x_test))
    weights = np.ones(len(x_train))
    if state["members"]:
        weights = np.load(run_dir / "boost_weights.npy")

    # --- members -----------------------------------------------------------------------
    for index, kind in enumerate(config.members):
        name = f"member{index}_{kind}"
        member_dir = run_dir / name
        if index < len(state["members"]):
            logger.info("%s already trained, skipping", name)
            continue
        member_dir.mkdir(exist_ok=True)
        started = time.time()
        keras.utils.set_random_seed(config.seed + index)
        model = build_member(kind, width=config.width, dense_units=config.dense_units,
                             dropout_rate=config.dropout_rate, name=name,
                             aligned_channels=config.aligned_channels,
                             num_classes=config.num_classes)
        if config.init_from is not None:
            warm_start(model, _trained_member(Path(config.init_from), name))
            logger.info("%s starts from %s", name, config.init_from)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        augmenter = EpochAugmenter(
            x_train, y_train, config.batch_size, seed=config.seed * 1000 + index,
            sample_weights=(weights if config.boost else np.ones(len(x_train))) * loss_weights,
            augment=AugmentConfig(camera_probability=config.camera_probability))

        def schedule(epoch, _lr):
            return learning_rate_at(config, epoch)

        callbacks = [
            augmenter.callback(),
            keras.callbacks.BackupAndRestore(str(member_dir / "backup")),
            keras.callbacks.LearningRateScheduler(schedule),
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.patience,
                                          restore_best_weights=True),
            keras.callbacks.ModelCheckpoint(str(member_dir / "best.keras"),
                                            monitor="val_accuracy", save_best_only=True),
            keras.callbacks.CSVLogger(str(member_dir / "history.csv"), append=True),
            _epoch_timer(member_dir / "epoch_seconds.txt"),
        ]
        logger.info("training %s (%d parameters) for up to %d epochs", name,
                    model.count_params(), config.epochs)
        fit_started = time.time()
        model.fit(augmenter.dataset(), validation_data=(x_val, y_val),
                  epochs=config.epochs, shuffle=False, callbacks=callbacks, verbose=verbose)
        fit_ended = time.time()
        if (member_dir / "best.keras").exists():
            model = keras.models.load_model(member_dir / "best.keras")
        _save_inference_copy(model, member_dir / "model.keras")

        train_pred = model.predict(x_train_clean, batch_size=1024, verbose=0).argmax(1)
        val_acc = float((model.predict(x_val, batch_size=1024, verbose=0).argmax(1)
                         == y_val).mean())
        wrong = (train_pred != y_train).astype(np.float64)
        weights, alpha, error = boosting.samme_update(weights, wrong, config.boost_learning_rate,
                                                      config.num_classes)
        np.save(run_dir / "boost_weights.npy", weights)
        # Epochs summed over every (resumed) process, plus this process's own set-up and
        # evaluation time.
        epoch_seconds = float((member_dir / "epoch_seconds.txt").read_text())
        seconds = epoch_seconds + (time.time() - started) - (fit_ended - fit_started)
        state["members"].append({"name": name, "kind": kind, "alpha": alpha,
                                 "weighted_train_error": error, "val_accuracy": val_acc,
                                 "params": model.count_params(), "seconds": seconds})
        state["train_seconds"] += seconds
        _save_json(state_path, state)
        logger.info("%s: validation accuracy %.4f, alpha %.3f, %.0f s", name, val_acc,
                    alpha, seconds)

    # --- evaluate ----------------------------------------------------------------------
    models = [keras.models.load_model(run_dir / m["name"] / "model.keras")
              for m in state["members"]]
    alphas = np.array([m["alpha"] for m in state["members"]])
    val_probs = np.stack([m.predict(x_val, batch_size=1024, verbose=0) for m in models])
    val_scores = {
        "average": float((boosting.combine(val_probs).argmax(1) == y_val).mean()),
        "boosted": float((boosting.combine(val_probs, alphas).argmax(1) == y_val).mean()),
    }
    combiner = "boosted" if val_scores["boosted"] > val_scores["average"] else "average"
    member_weights = (alphas / alphas.sum() if combiner == "boosted"
                      else np.full(len(models), 1.0 / len(models)))
    logger.info("validation: %s; using %s", val_scores, combiner)

    # The test set is used once, here, for the report; it selects nothing.
    x_test, y_test = splits.x_test, splits.y_test
    if config.test_limit:
        x_test, y_test = x_test[:config.test_limit], y_test[:config.test_limit]
    test_probs = np.stack([m.predict(to_model_input(x_test), batch_size=1024, verbose=0)
                           for m in models])
    ensemble_probs = boosting.combine(test_probs, member_weights)
    member_acc = [float((p.argmax(1) == y_test).mean()) for p in test_probs]
    average_acc = float((boosting.combine(test_probs).argmax(1) == y_test).mean())
    boosted_acc = float((boosting.combine(test_probs, alphas).argmax(1) == y_test).mean())

    reject_report = {}
    if negatives is not None:
        # The reject answer counts as a wrong answer on the digits; "without" reads the
        # best of the ten digits alone, as a ten-class model would.
        negative_probs = boosting.combine(np.stack([
            m.predict(to_model_input(negatives["test"]), batch_size=1024, verbose=0)
            for m in models]), member_weights)
        reject_report = {
            "ensemble_without_reject": float(
                (ensemble_probs[:, :10].argmax(1) == y_test).mean()),
            "false_rejections": float((ensemble_probs.argmax(1) == 10).mean()),
            "negatives_rejected": float((negative_probs.argmax(1) == 10).mean()),
            "negatives_rejected_by_source": {
                str(source): float((negative_probs[negatives["test_source"] == source]
                                    .argmax(1) == 10).mean())
                for source in np.unique(negatives["test_source"])},
            "negative_test_crops": int(len(negatives["test"])),
        }
        plots.confusable_negatives(negatives["test"], negative_probs,
                                   run_dir / "confusable_negatives.png")

    plots.training_curves({m["name"]: run_dir / m["name"] / "history.csv"
                           for m in state["members"]}, run_dir / "training_curves.png")
    plots.confusion_matrix(y_test, ensemble_probs.argmax(1), run_dir / "confusion_matrix.png")
    plots.worst_errors(x_test, y_test, ensemble_probs, run_dir / "worst_errors.png")
    plots.feature_maps(models[0], x_test[0], run_dir / "feature_maps.png")

    report = {
        "test_accuracy": {"ensemble": float((ensemble_probs.argmax(1) == y_test).mean()),
                          "members": member_acc, "average": average_acc,
                          "boosted": boosted_acc, **reject_report},
        "classes": config.num_classes,
        "test_images": int(len(y_test)),
        "validation_accuracy": val_scores,
        "combiner": combiner,
        "member_weights": [float(w) for w in member_weights],
        "members": state["members"],
        "train_seconds": state["train_seconds"],
        "seed": config.seed,
        "quick": config.quick,
        "config": json.loads(json.dumps(asdict(config), default=str)),
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "gpu": bool(gpus)},
    }
    _save_json(run_dir / "report.json", report)
    logger.info("test accuracy: ensemble %.4f, members %s", report["test_accuracy"]["ensemble"],
                ", ".join(f"{a:.4f}" for a in member_acc))
    return report
