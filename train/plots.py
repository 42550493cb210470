"""PNG plots of a training run: curves, confusion matrix, worst errors, feature maps."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

logger = logging.getLogger(__name__)


def training_curves(history_files: dict[str, Path], out: Path) -> None:
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for name, path in history_files.items():
        if not path.exists():
            continue
        with open(path) as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        epochs = [int(r["epoch"]) + 1 for r in rows]
        for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
            ax.plot(epochs, [float(r[key]) for r in rows], "--", label=f"{name} train")
            ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], "-", label=f"{name} val")
    ax_loss.set(title="loss", xlabel="epoch", yscale="log")
    ax_acc.set(title="accuracy", xlabel="epoch", ylim=(0.97, 1.0))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, out: Path,
                     title: str = "ensemble, MNIST test set") -> np.ndarray:
    """True digits against predicted answers; an eleventh column ("none": not a digit)
    where the model has a reject answer."""
    columns = max(10, int(predicted.max(initial=0)) + 1)
    matrix = np.zeros((10, columns), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    fig, ax = plt.subplots(figsize=(6 + 0.5 * (columns - 10), 5.5))
    off_diagonal = matrix.copy()
    off_diagonal[np.arange(10), np.arange(10)] = 0
    ax.imshow(off_diagonal, cmap="Reds")
    for t in range(10):
        for p in range(columns):
            if matrix[t, p]:
                ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=7,
                        color="black" if t != p else "gray")
    ax.set(xticks=range(columns), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"{title} (errors in red)")
    ax.set_xticklabels([str(c) if c < 10 else "none" for c in range(columns)])
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return matrix


def _tiles(count: int, cols: int = 9):
    """A figure of ``count`` small image tiles, ``cols`` a row, axes hidden."""
    rows = max(1, int(np.ceil(count / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4))
    for ax in np.ravel(axes):
        ax.axis("off")
    return fig, np.ravel(axes)


def worst_errors(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
                 out: Path, count: int = 36) -> None:
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    fig, axes = _tiles(len(order))
    for ax, i in zip(axes, order, strict=False):
        ax.imshow(images[i], cmap="gray")
        ax.set_title(f"{labels[i]}→{predicted[i]} {probabilities[i, predicted[i]]:.2f}",
                     fontsize=7)
    fig.suptitle("worst test errors: true→predicted, confidence", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def feature_maps(model, image: np.ndarray, out: Path, layer_name: str = "conv_first") -> None:
    import keras

    layer = model.get_layer(layer_name)
    probe = keras.Model(model.inputs, layer.output)
    maps = np.asarray(probe((image.astype(np.float32) / 255.0)[None, ..., None]))[0]
    channels = maps.shape[-1]
    cols = 8
    rows = int(np.ceil((channels + 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1))
    for ax in np.ravel(axes):
        ax.axis("off")
    flat = np.ravel(axes)
    flat[0].imshow(image, cmap="gray")
    flat[0].set_title("input", fontsize=7)
    for c in range(channels):
        flat[c + 1].imshow(maps[..., c], cmap="viridis")
    fig.suptitle(f"{model.name}: feature maps of {layer_name}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def confusable_negatives(images: np.ndarray, probabilities: np.ndarray, out: Path,
                         count: int = 36) -> None:
    """The non-digits the model found most digit-like: each with its best digit and that
    digit's probability, and whether the model rejected it all the same."""
    digit_best = probabilities[:, :10].max(axis=1)
    order = np.argsort(-digit_best)[:count]
    fig, axes = _tiles(len(order))
    for ax, i in zip(axes, order, strict=False):
        answer = int(probabilities[i].argmax())
        ax.imshow(images[i], cmap="gray")
        said = "none" if answer == 10 else str(answer)
        ax.set_title(f"{said}  {int(probabilities[i, :10].argmax())}:{digit_best[i]:.2f}",
                     fontsize=7, color="black" if answer == 10 else "red")
    fig.suptitle("most digit-like non-digits: answer (red: read as a digit), best digit:p",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
