"""Compare a rerun's training curve with the per-epoch log a submission provided.

The log is a CSV with the columns `epoch`, `train_loss` and `val_metric` (the task's
validation metric). Curves diverge at the first epoch where either column differs by more
than its tolerance.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from viprepro.errors import UserError

COLUMNS = ("epoch", "train_loss", "val_metric")


def read_claimed_log(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read the training log ({type(exc).__name__})", path=path) from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise UserError(f"missing column(s) {', '.join(missing)} (needs {', '.join(COLUMNS)})", path=path)
    return table[list(COLUMNS)].sort_values("epoch")


def compare(claimed: pd.DataFrame, history: list[dict], val_metric: str, tolerance: dict) -> dict:
    rerun = pd.DataFrame([{"epoch": h["epoch"], "train_loss": h["train_loss"], "val_metric": h.get(f"val_{val_metric}")} for h in history])
    both = claimed.merge(rerun, on="epoch", suffixes=("_claimed", "_rerun"))
    deviation = {c: (both[f"{c}_rerun"] - both[f"{c}_claimed"]).abs() for c in ("train_loss", "val_metric")}
    beyond = (deviation["train_loss"] > tolerance["train_loss"]) | (deviation["val_metric"] > tolerance["val_metric"])
    return {
        "epochs_compared": int(len(both)),
        "first_divergent_epoch": int(both.loc[beyond, "epoch"].iloc[0]) if beyond.any() else None,
        "max_deviation": {c: float(d.max()) if len(d) else None for c, d in deviation.items()},
        "tolerance": tolerance,
        "curves": {
            "epoch": both["epoch"].tolist(),
            **{f"{c}_{side}": both[f"{c}_{side}"].tolist() for c in ("train_loss", "val_metric") for side in ("claimed", "rerun")},
        },
    }


def plot(comparison: dict, out: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = comparison["curves"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, column, label in ((axes[0], "train_loss", "training loss"), (axes[1], "val_metric", "validation metric")):
        axis.plot(curves["epoch"], curves[f"{column}_claimed"], "o-", label="claimed log")
        axis.plot(curves["epoch"], curves[f"{column}_rerun"], "s--", label="rerun")
        if comparison["first_divergent_epoch"] is not None:
            axis.axvline(comparison["first_divergent_epoch"], color="red", alpha=0.4, label="first divergence")
        axis.set_xlabel("epoch")
        axis.set_title(label)
        axis.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
