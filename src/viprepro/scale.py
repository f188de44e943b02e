"""`scale: smoke`: any spec, shrunk to run in seconds on the embedded default on a CPU.

Only sizes change: one epoch, tiny inputs (classification 32 px, segmentation 32x64,
detection 128 px, 4-frame 16 px clips), at most 4 samples a batch, narrow own models
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


def _shrink_pair(pair, longest: int) -> list[int]:
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
            kwargs[key] = _shrink_pair(value, 128) if len(value) > 1 else [128]
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
    recipe, task = spec["recipe"], spec["task"]
    recipe["epochs"] = 1
    recipe["batch_size"] = min(recipe["batch_size"], SMOKE_BATCH)
    if "workers" in recipe:
        recipe["workers"] = 0
    if spec.get("model"):
        spec["model"]["kwargs"] = _shrink_kwargs(spec["model"].get("kwargs", {}))
    if task == "classification":
        full = recipe["input_size"]
        recipe["input_size"] = 32
        if recipe.get("eval_resize"):
            recipe["eval_resize"] = max(32, int(round(recipe["eval_resize"] * 32 / full)))
    elif task == "segmentation":
        recipe["train_size"] = _shrink_pair(recipe["train_size"], 64)
        recipe["test_size"] = _shrink_pair(recipe["test_size"], 64)
        if recipe.get("crop_size"):
            recipe["crop_size"] = [min(c, t) for c, t in zip(_shrink_pair(recipe["crop_size"], 48), recipe["train_size"])]
        loss = recipe.get("loss", {})
        if loss.get("name") == "ohem_cross_entropy":  # a pixel count: sized to the tiny images
            loss["ohem_min_kept"] = min(loss["ohem_min_kept"], 256)
    elif task == "action_recognition":
        recipe["frames_per_clip"] = min(recipe["frames_per_clip"], 4)
        recipe["frame_stride"] = min(recipe["frame_stride"], 2)
        recipe["test_clips"] = min(recipe["test_clips"], 2)
        if recipe.get("resize"):
            recipe["resize"] = _shrink_pair(recipe["resize"], 20)
        if recipe.get("crop_size"):
            recipe["crop_size"] = min(recipe["crop_size"], 14)
    return spec
