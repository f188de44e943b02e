"""`scale: smoke`: any spec, shrunk to run in seconds on the embedded default on a CPU.

Only sizes change: one epoch, tiny inputs (each task's `shrink_recipe`: 32 px images,
32x64 street scenes, 128 px detector inputs, 4-frame 16 px clips), at most 4 samples a batch, narrow own models
(`width`-like constructor arguments), no loader workers, and detectors that keep every box
(an untrained detector's scores stay below the usual 0.05 threshold: the scoring path would
otherwise see an empty submission). Everything else (optimiser and its
parameters, schedule and warm-up, EMA, losses, augmentations, accumulation, ensemble, TTA)
stays as written, so a smoke run goes through the same code paths as the full recipe.
"""

from __future__ import annotations

import copy

SMOKE_BATCH = 4
WIDTH_KWARGS = {"width": 4, "fpn_channels": 16, "representation_size": 64}


def shrink_pair(pair, longest: int) -> list[int]:
    factor = longest / max(pair)
    return [max(8, int(round(v * factor))) for v in pair]


def _shrink_kwargs(kwargs: dict) -> dict:
    kwargs = dict(kwargs)
    for key, smallest in WIDTH_KWARGS.items():
        if isinstance(kwargs.get(key), int):
            kwargs[key] = min(kwargs[key], smallest)
    if isinstance(kwargs.get("widths"), list):
        kwargs["widths"] = [min(w, 4 * 2**i) for i, w in enumerate(kwargs["widths"])]
    for key in ("min_size", "max_size"):  # torchvision detectors resize inside the model
        value = kwargs.get(key)
        if isinstance(value, list):
            kwargs[key] = shrink_pair(value, 128) if len(value) > 1 else [128]
        elif isinstance(value, (int, float)):
            kwargs[key] = 128
    if "min_size" in kwargs or "max_size" in kwargs:  # a detector: after one epoch no box passes the 0.05 default
        kwargs["box_score_thresh"] = 0.0
    if "anchor_sizes" in kwargs:
        kwargs["anchor_sizes"] = [[8 * 2**i] for i in range(len(kwargs["anchor_sizes"]))]
    return kwargs


def at_scale(spec: dict, scale: str) -> dict:
    """The spec at `scale` (full: unchanged)."""
    if scale == "full" or spec.get("kind") == "external":
        return spec
    if scale != "smoke":
        raise ValueError(f"unknown scale {scale!r}")
    spec = copy.deepcopy(spec)
    from viprepro.tasks import get_task

    task = get_task(spec["task"])
    for part in spec.get("stages") or [spec]:  # every stage shrunk alike; the last one is the spec's model and recipe
        _shrink(part, task)
    if spec.get("stages"):
        spec["recipe"], spec["model"] = copy.deepcopy(spec["stages"][-1]["recipe"]), copy.deepcopy(spec["stages"][-1]["model"])
        for stage in spec["stages"]:  # a feature loss that starts after the one smoke epoch starts at once
            feature = (stage.get("distill") or {}).get("feature")
            if feature:
                feature["start_epoch"] = 0
    return spec


def _shrink(part: dict, task) -> None:
    recipe = part["recipe"]
    recipe["epochs"] = 1
    recipe["batch_size"] = min(recipe["batch_size"], SMOKE_BATCH)
    if "workers" in recipe:
        recipe["workers"] = 0
    if part.get("model"):
        part["model"]["kwargs"] = _shrink_kwargs(part["model"].get("kwargs", {}))
    pretext = recipe.pop("pretext", None)  # a pretext stage's method is kept as written
    task.shrink_recipe(recipe)
    if pretext is not None:
        recipe["pretext"] = pretext
