"""Optimisers and learning-rate schedules built from a recipe."""

from __future__ import annotations

import math

import torch


def build_optimizer(params, spec: dict) -> torch.optim.Optimizer:
    name = spec["name"]
    weight_decay = spec.get("weight_decay", 0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=spec["lr"], momentum=spec.get("momentum", 0.9),
                               nesterov=spec.get("nesterov", False), weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=spec["lr"], betas=tuple(spec.get("betas", (0.9, 0.999))), weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=spec["lr"], betas=tuple(spec.get("betas", (0.9, 0.999))), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def lr_factor(schedule: dict, epochs: int, steps_per_epoch: int, step: int) -> float:
    """Multiplier of the base lr at global iteration `step` (0-based).

    The decay follows the epoch (as the official recipes do: x0.1 every 30 epochs); the
    optional warm-up ramps linearly per iteration.
    """
    name = schedule.get("name", "constant")
    epoch = step // max(1, steps_per_epoch)
    if name == "constant":
        factor = 1.0
    elif name == "step":
        factor = schedule.get("gamma", 0.1) ** (epoch // schedule.get("step_size", 30))
    elif name == "multistep":
        passed = sum(1 for m in schedule.get("milestones", []) if epoch >= m)
        factor = schedule.get("gamma", 0.1) ** passed
    elif name == "cosine":
        total = max(1, epochs * steps_per_epoch)
        min_ratio = schedule.get("min_lr", 0.0) / schedule["base_lr"] if schedule.get("base_lr") else 0.0
        factor = min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * step / total))
    else:
        raise ValueError(f"unknown lr schedule {name!r}")
    warmup_steps = int(round(schedule.get("warmup_epochs", 0) * steps_per_epoch))
    if warmup_steps and step < warmup_steps:
        start = schedule.get("warmup_factor", 0.001)
        factor *= start + (1 - start) * step / warmup_steps
    return factor


def build_scheduler(optimizer, schedule: dict, epochs: int, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-iteration LambdaLR; its state (last step) goes into the checkpoint."""
    schedule = {**schedule, "base_lr": optimizer.param_groups[0]["lr"]}
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(schedule, epochs, steps_per_epoch, step))
