"""The figures of a reproduction, drawn with matplotlib (Agg: no display needed) into PNGs.

Each function takes plain data (the JSON records, arrays) and writes one PNG, so that the
scoring step, the certificate and the tests can all call them. Figures stay readable at the
sizes the challenges have: 1000 ImageNet classes do not fit as bars, so long per-class lists
are drawn as a sorted profile with the worst classes named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLAIMED_COLOR = "black"
MANY_CLASSES = 40  # above this, per-class bars become a sorted profile
DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path) -> Path:
    from viprepro.files.fileio import atomic_path

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    _pyplot().close(fig)
    return out


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- training curves ------------------------------------------------------------------------


def training_curves(histories: dict[str, list[dict]], val_metric: str, out: Path, *, claimed: dict | None = None, title: str = "") -> Path:
    """Training loss, validation metric and learning rate per epoch, one line per run.

    `histories` maps a label ("seed 0", "seed 1 member 2") to history.json; `claimed` is the
    verdict's trajectory curves (epoch, train_loss_claimed, val_metric_claimed) when the
    submission provided its own training log.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = (("train_loss", "training loss"), (f"val_{val_metric}", f"validation {val_metric}"), ("lr", "learning rate"))
    for axis, (key, label) in zip(axes, panels):
        drawn = False
        for run, history in histories.items():
            points = [(h["epoch"], h[key]) for h in history if _finite(h.get(key))]
            if points:
                axis.plot(*zip(*points), marker="o", markersize=3, linewidth=1.4, label=run)
                drawn = True
        claimed_key = {"train_loss": "train_loss_claimed", f"val_{val_metric}": "val_metric_claimed"}.get(key)
        if claimed and claimed_key:
            points = [(e, v) for e, v in zip(claimed["epoch"], claimed[claimed_key]) if _finite(v)]
            if points:
                axis.plot(*zip(*points), color=CLAIMED_COLOR, linestyle="--", marker="x", label="claimed log")
                drawn = True
        if not drawn:
            note = "no validation split\n(trained on train+val)" if key.startswith("val_") else "not recorded"
            axis.text(0.5, 0.5, note, ha="center", va="center", transform=axis.transAxes, color="gray")
        if key == "lr" and drawn and _positive_span(axis):
            axis.set_yscale("log")
        axis.set_title(label)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for axis in axes[1:]:
        for handle, text in zip(*axis.get_legend_handles_labels()):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(title or "Training curves")
    fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 1))
    return _save(fig, out)


def _positive_span(axis) -> bool:
    values = np.concatenate([line.get_ydata() for line in axis.get_lines()]).astype(float)
    return bool(len(values)) and values.min() > 0 and values.max() / values.min() > 20


# --- claimed vs reproduced ------------------------------------------------------------------


def seed_band(judgement: dict, out: Path, *, claimed_seed: int, label: str = "") -> Path:
    """One metric: every seed's score, the claim with its tolerance, the reproduced value."""
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(7.2, 2.8))
    claim, tol = judgement["claimed"], judgement["tolerance"]
    axis.axvspan(claim - tol, claim + tol, color="tab:green", alpha=0.15, label=f"claim ± tolerance ({tol:.4g})")
    axis.axvline(claim, color=CLAIMED_COLOR, linestyle="--", label=f"claimed {claim:.4g}")
    band = judgement["band"]
    if band["n"] > 1:
        axis.hlines(0, band["min"], band["max"], color="tab:blue", linewidth=6, alpha=0.35, label=f"seed band (n={band['n']})")
        if band.get("interval_low") is not None:
            axis.hlines(
                -0.35,
                band["interval_low"],
                band["interval_high"],
                color="tab:purple",
                linewidth=2,
                label="95 % prediction interval, one more seed",
            )
    scored = {seed: value for seed, value in judgement["scores_by_seed"].items() if value is not None and math.isfinite(value)}
    for seed, value in scored.items():
        main = int(seed) == claimed_seed
        axis.plot(
            value,
            0,
            marker="D" if main else "o",
            markersize=10 if main else 7,
            color="tab:red" if main else "tab:blue",
            linestyle="none",
            label=f"reproduced {value:.4g} (claimed seed {seed})" if main else None,
        )
        axis.annotate(f"seed {seed}", (value, 0), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=7)
    values = [claim - tol, claim + tol, *scored.values()]
    span = max(values) - min(values) or max(abs(claim), 1e-3) * 0.1
    axis.set_xlim(min(values) - 0.15 * span, max(values) + 0.15 * span)
    axis.set_yticks([])
    axis.set_ylim(-1, 1)
    axis.set_xlabel(label or judgement["metric"])
    axis.set_title(f"{label or judgement['metric']}: {judgement['verdict']}")
    fig.legend(*axis.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    return _save(fig, out)


# --- per-class metrics ----------------------------------------------------------------------


def per_class(
    values_by_seed: dict[int, dict[str, float | None]],
    out: Path,
    *,
    claimed_seed: int,
    metric_label: str,
    names: dict[str, str] | None = None,
    title: str = "",
) -> Path:
    """Per-class scores at the claimed seed, with the range over every seed.

    Classes without a value (no ground truth in the test split: NaN or None) are left out and
    counted in the title, never drawn as zero.
    """
    plt = _pyplot()
    main = values_by_seed[claimed_seed]
    keys = [k for k, v in main.items() if _finite(v)]
    omitted = len(main) - len(keys)
    shown_names = [(names or {}).get(k, k) for k in keys]
    ours = np.array([main[k] for k in keys], dtype=float)
    runs = list(values_by_seed.values())
    low = np.array([min(v for run in runs if _finite(v := run.get(k))) for k in keys], dtype=float)
    high = np.array([max(v for run in runs if _finite(v := run.get(k))) for k in keys], dtype=float)
    heading = (title or f"{metric_label} per class") + (f" ({omitted} class(es) without ground truth omitted)" if omitted else "")
    if not keys:
        fig, axis = plt.subplots(figsize=(6, 2))
        axis.text(0.5, 0.5, "no class has a value", ha="center", va="center", transform=axis.transAxes)
        axis.set_axis_off()
    elif len(keys) <= MANY_CLASSES:
        fig, axis = plt.subplots(figsize=(max(6.0, 0.32 * len(keys) + 2), 3.8))
        x = np.arange(len(keys))
        axis.bar(x, ours, color="tab:blue", label=f"claimed seed {claimed_seed}")
        if len(values_by_seed) > 1:
            axis.errorbar(x, ours, yerr=[ours - low, high - ours], fmt="none", ecolor="black", capsize=2, label="range over seeds")
            axis.legend(fontsize=8)
        axis.set_xticks(x, shown_names, rotation=60, ha="right", fontsize=7)
        axis.axhline(float(ours.mean()), color="gray", linestyle=":", linewidth=1)
    else:
        order = np.argsort(ours)
        fig, axis = plt.subplots(figsize=(9, 3.8))
        rank = np.arange(len(keys))
        axis.fill_between(rank, low[order], high[order], color="tab:blue", alpha=0.2, label="range over seeds")
        axis.plot(rank, ours[order], color="tab:blue", label=f"claimed seed {claimed_seed}")
        worst = "\n".join(f"{shown_names[i]}: {ours[i]:.3f}" for i in order[:5])
        axis.text(
            0.99,
            0.03,
            f"worst classes\n{worst}",
            transform=axis.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            bbox={"facecolor": "white", "edgecolor": "lightgray"},
        )
        axis.set_xlabel(f"classes sorted by {metric_label} ({len(keys)} classes)")
        axis.legend(fontsize=8)
    if keys:
        axis.set_ylabel(metric_label)
        axis.set_ylim(0, max(1.0, float(np.nanmax(high)) * 1.05))
        axis.grid(axis="y", alpha=0.3)
    axis.set_title(heading, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


# --- confusion matrix -----------------------------------------------------------------------


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class; predictions outside the range are dropped."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    keep = (y_pred >= 0) & (y_pred < num_classes) & (y_true >= 0) & (y_true < num_classes)
    return np.bincount(y_true[keep] * num_classes + y_pred[keep], minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def confusion_matrix(counts: np.ndarray, names: list[str], out: Path, *, title: str = "") -> Path:
    """Row-normalised confusion matrix (each row: where that class's test samples went)."""
    plt = _pyplot()
    counts = np.asarray(counts, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    k = len(names)
    size = min(12.0, max(4.5, 0.35 * k + 2))
    fig, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of the true class")
    if k <= 30:
        axis.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
        axis.set_yticks(range(k), names, fontsize=7)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if counts[i, j]:
                        axis.text(
                            j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color="white" if share[i, j] > 0.5 else "black"
                        )
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    accuracy = np.trace(counts) / counts.sum() if counts.sum() else float("nan")
    axis.set_title(title or f"Confusion matrix (top-1 accuracy {accuracy:.3f}, {int(counts.sum())} test samples)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


# --- example predictions --------------------------------------------------------------------


@dataclass
class Example:
    """One test sample: its panels (HxWx3 uint8 images, e.g. image | prediction | truth, or
    frames of a clip), a caption, and whether the prediction was right (None: not a yes/no)."""

    panels: list[np.ndarray]
    caption: str
    correct: bool | None = None
    panel_titles: list[str] = field(default_factory=list)


def example_grid(examples: list[Example], out: Path, *, title: str, note: str = "") -> Path:
    """Single-panel examples tile a grid; multi-panel examples take one row each."""
    plt = _pyplot()
    panels = max((len(e.panels) for e in examples), default=1)
    if panels == 1:
        columns = min(4, max(1, len(examples)))
        rows = max(1, math.ceil(len(examples) / columns))
        fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 3.3 * rows + 0.6), squeeze=False)
        cells = [(axes.flat[i], [e.panels[0]], e, True) for i, e in enumerate(examples)]
        unused = list(axes.flat[len(examples) :])
    else:
        rows = max(1, len(examples))
        fig, axes = plt.subplots(rows, panels, figsize=(2.6 * panels, 2.4 * rows + 0.6), squeeze=False)
        cells = [(axis, [image], e, j == 0) for i, e in enumerate(examples) for j, (axis, image) in enumerate(zip(axes[i], e.panels))]
        unused = [axes[i][j] for i, e in enumerate(examples) for j in range(len(e.panels), panels)]
    for axis, (image,), example, first in cells:
        axis.imshow(image)
        axis.set_xticks([])
        axis.set_yticks([])
        color = {True: "tab:green", False: "tab:red", None: "black"}[example.correct]
        if first:
            axis.set_title(example.caption, fontsize=7, color=color)
    if panels > 1 and examples and examples[0].panel_titles:
        for axis, text in zip(axes[-1], examples[0].panel_titles):
            axis.set_xlabel(text, fontsize=8)
    for axis in unused:
        axis.set_axis_off()
    fig.suptitle(title, fontsize=10)
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    return _save(fig, out)
