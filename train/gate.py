"""The "not a digit" gate: a small CNN beside the digit members that says whether a crop
is a digit at all.

Why a gate and not an eleventh class in every member: members trained from scratch with
the non-digits as an eleventh class (``digitcam train --reject``) learnt the style of the
generated non-digits (OpenCV's Hershey faces) as "not a digit" and lost digits drawn in
any style but MNIST's: on non-MNIST scenes 93 % digit accuracy instead of 98 %, and 99.66
instead of 99.70 % on the MNIST test set. The gate leaves the digit members exactly as
they were trained; the ensemble graph multiplies their digit probabilities by the gate's
"is a digit" and appends "not a digit" as the eleventh answer (:mod:`convert.ensemble`).

Reads top to bottom: setup, data, model, train, calibrate, evaluate. ``digitcam train
--gate --init-from models/keras`` runs it: the members are copied from ``--init-from``
(the shipped ten-class members), only the gate is trained.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MAX_FALSE_REJECTIONS = 0.001  # of the validation digits, when the gate's bias is chosen


def build_gate(width: int = 24, dense_units: int = 32, dropout_rate: float = 0.3,
               name: str = "gate"):
    """A small CNN: uint8-range image in [0, 1] -> probability that it is not a digit."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for filters in (width // 2, width, 2 * width):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="not_a_digit")(x)
    return keras.Model(inputs, outputs, name=name)


def choose_bias(digit_scores: np.ndarray,
                max_false_rejections: float = MAX_FALSE_REJECTIONS) -> float:
    """The logit offset added to the gate so that at most ``max_false_rejections`` of the
    validation digits are rejected (score above 0.5); never positive (the gate is only
    made more careful than it was trained, not less)."""
    logits = np.log(np.clip(digit_scores, 1e-7, 1 - 1e-7) / np.clip(1 - digit_scores, 1e-7, 1))
    allowed = int(np.floor(max_false_rejections * len(logits)))
    ordered = np.sort(logits)[::-1]
    # the (allowed+1)-th highest digit logit must end below 0
    bias = -float(ordered[allowed]) - 1e-3 if allowed < len(ordered) else 0.0
    return min(0.0, bias)


def gated(scores: np.ndarray, bias: float) -> np.ndarray:
    logits = np.log(np.clip(scores, 1e-7, 1 - 1e-7) / np.clip(1 - scores, 1e-7, 1))
    return 1 / (1 + np.exp(-(logits + bias)))


def train_gate(config, resume: bool = False) -> dict:
    # --- setup -----------------------------------------------------------------------
    import keras

    from train import plots
    from train.augment import AugmentConfig
    from train.data import EpochAugmenter, load_splits, to_model_input
    from train.negatives import rendered_digits, runtime_digits
    from train.run import _epoch_timer, _negatives, _save_json, learning_rate_at, member_file

    run_dir = Path(config.run_dir)
    if (run_dir / "report.json").exists() and not resume:
        raise FileExistsError(f"{run_dir} already holds a run: choose another --run-dir")
    if config.init_from is None:
        raise ValueError("--gate needs --init-from: the trained digit members it gates")
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    verbose = 1 if sys.stdout.isatty() else 2
    started = time.time()

    # --- data ------------------------------------------------------------------------
    splits = load_splits(config.data_dir, config.validation_size, config.seed,
                         config.train_limit)
    negatives = _negatives(config, run_dir, splits)
    # Digits drawn like the negatives are drawn, so that the gate cannot tell them apart
    # by the drawing style (it did: printed-style digits were rejected as letters).
    drawn, _ = rendered_digits(len(negatives["train"]) // 2, config.seed * 1000 + 800)
    drawn_val, _ = rendered_digits(len(negatives["val"]) // 2, config.seed * 1000 + 801)
    # and MNIST's own digits the same way, so that the runtime's look is no sign either
    rng = np.random.default_rng(config.seed * 1000 + 802)
    pathed = runtime_digits(splits.x_train[rng.permutation(len(splits.x_train))[
        :len(negatives["train"]) // 2]], config.seed * 1000 + 803)
    pathed_val = runtime_digits(splits.x_val, config.seed * 1000 + 804)
    drawn = np.concatenate([drawn, pathed])
    drawn_val = np.concatenate([pathed_val, drawn_val])
    x = np.concatenate([splits.x_train, drawn, negatives["train"]])
    y = np.concatenate([np.zeros(len(splits.x_train) + len(drawn)),
                        np.ones(len(negatives["train"]))])
    weights = np.concatenate([np.ones(len(splits.x_train) + len(drawn)),
                              np.full(len(negatives["train"]), config.negative_weight)])
    x_val = to_model_input(np.concatenate([splits.x_val, drawn_val, negatives["val"]]))
    y_val = np.concatenate([np.zeros(len(splits.x_val) + len(drawn_val)),
                            np.ones(len(negatives["val"]))])
    logger.info("gate: %d MNIST digits, %d drawn digits and %d non-digits to train on",
                len(splits.x_train), len(drawn), len(negatives["train"]))

    # --- model -----------------------------------------------------------------------
    gate_dir = run_dir / "gate"
    gate_dir.mkdir(exist_ok=True)
    model = build_gate()
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="binary_crossentropy", metrics=["accuracy"])
    augmenter = EpochAugmenter(x, y.astype(np.int32), config.batch_size, seed=config.seed,
                               sample_weights=weights,
                               augment=AugmentConfig(camera_probability=config.camera_probability))

    # --- train -----------------------------------------------------------------------
    callbacks = [
        augmenter.callback(),
        keras.callbacks.BackupAndRestore(str(gate_dir / "backup")),
        keras.callbacks.LearningRateScheduler(lambda epoch, _lr: learning_rate_at(config,
                                                                                  epoch)),
        keras.callbacks.CSVLogger(str(gate_dir / "history.csv"), append=True),
        _epoch_timer(gate_dir / "epoch_seconds.txt"),
    ]
    model.fit(augmenter.dataset(), validation_data=(x_val, y_val), epochs=config.epochs,
              shuffle=False, callbacks=callbacks, verbose=verbose)
    model.save(gate_dir / "model.keras")

    # --- calibrate (validation only) -------------------------------------------------
    val_scores = model.predict(x_val, batch_size=1024, verbose=0)[:, 0]
    # MNIST's own validation digits, as they are and through the runtime's path: the
    # bias is chosen on them
    digits_val = val_scores[:2 * len(splits.x_val)]
    bias = choose_bias(digits_val)

    # --- members and evaluation ------------------------------------------------------
    source_report = _source_report(Path(config.init_from))
    members = []
    for member in source_report["members"]:
        target = run_dir / member["name"]
        target.mkdir(exist_ok=True)
        shutil.copyfile(member_file(Path(config.init_from), member["name"]),
                        target / "model.keras")
        members.append(keras.models.load_model(target / "model.keras"))
    member_weights = np.asarray(source_report["member_weights"])
    x_test, y_test = splits.x_test, splits.y_test
    if config.test_limit:
        x_test, y_test = x_test[:config.test_limit], y_test[:config.test_limit]
    digit_probs = np.tensordot(member_weights / member_weights.sum(), np.stack(
        [m.predict(to_model_input(x_test), batch_size=1024, verbose=0) for m in members]), 1)
    test_gate = gated(model.predict(to_model_input(x_test), batch_size=1024, verbose=0)[:, 0],
                      bias)
    probs = np.concatenate([digit_probs * (1 - test_gate[:, None]), test_gate[:, None]], 1)
    negative_gate = gated(model.predict(to_model_input(negatives["test"]), batch_size=1024,
                                        verbose=0)[:, 0], bias)
    rejected = probs.argmax(1) == 10
    plots.confusion_matrix(y_test, probs.argmax(1), run_dir / "confusion_matrix.png")
    plots.confusable_negatives(negatives["test"], _negative_answers(members, member_weights,
                                                                    negatives["test"],
                                                                    negative_gate),
                               run_dir / "confusable_negatives.png")
    report = dict(source_report)
    report["test_accuracy"] = {
        **source_report["test_accuracy"],
        "ensemble": float((probs.argmax(1) == y_test).mean()),
        "ensemble_without_reject": float((digit_probs.argmax(1) == y_test).mean()),
        "false_rejections": float(rejected.mean()),
        "false_rejections_of_correct_digits": float(
            (rejected & (digit_probs.argmax(1) == y_test)).mean()),
        "negatives_rejected": float((negative_gate > 0.5).mean()),
        "negatives_rejected_by_source": {
            str(source): float((negative_gate[negatives["test_source"] == source] > 0.5).mean())
            for source in np.unique(negatives["test_source"])},
        "negative_test_crops": int(len(negatives["test"])),
    }
    gate_seconds = float((gate_dir / "epoch_seconds.txt").read_text())
    report.update(
        classes=11, gate={"bias": bias, "params": int(model.count_params()),
                          "epochs": config.epochs, "seconds": gate_seconds,
                          "negative_share": config.negative_share,
                          "negative_weight": config.negative_weight,
                          "validation_false_rejections": float(
                              (gated(digits_val, bias) > 0.5).mean()),
                          "validation_negatives_rejected": float(
                              (gated(val_scores[y_val == 1], bias) > 0.5).mean())},
        train_seconds=source_report["train_seconds"] + gate_seconds,
        gate_wall_seconds=time.time() - started)
    _save_json(run_dir / "report.json", report)
    logger.info("gate: MNIST %.4f with the reject answer, %.4f without; %.3f%% digits "
                "rejected; %.1f%% of unseen non-digits rejected",
                report["test_accuracy"]["ensemble"],
                report["test_accuracy"]["ensemble_without_reject"],
                100 * report["test_accuracy"]["false_rejections"],
                100 * report["test_accuracy"]["negatives_rejected"])
    return report


def _source_report(init_from: Path) -> dict:
    """The training report of the members: in a run directory, or beside a folder of
    member files (``models/keras`` -> ``models/report.json``)."""
    for candidate in (init_from / "report.json", init_from.parent / "report.json"):
        if candidate.exists():
            return json.loads(candidate.read_text())
    raise FileNotFoundError(f"--init-from {init_from}: no report.json in it or beside it")


def _negative_answers(members, weights, images, gate) -> np.ndarray:
    from train.data import to_model_input

    digits = np.tensordot(weights / weights.sum(), np.stack(
        [m.predict(to_model_input(images), batch_size=1024, verbose=0) for m in members]), 1)
    return np.concatenate([digits * (1 - gate[:, None]), gate[:, None]], 1)
