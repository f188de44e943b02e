"""Optimisers and learning-rate schedules built from a recipe.

Optimisers come from the libraries: torch (sgd, adam, adamw, rmsprop) and timm (rmsprop_tf,
the TensorFlow-style RMSprop of the EfficientNet recipes, and lamb). `no_decay_norm_bias`
groups the parameters with timm's `param_groups_weight_decay`.

The schedule is one function of the global iteration, `lr_factor`, wrapped in a LambdaLR
whose state is one integer, so a resumed run continues exactly. Its formulas are timm's
schedulers' (StepLRScheduler, MultiStepLRScheduler, CosineLRScheduler, PolyLRScheduler, with
their warm-up); tests/recipes/test_schedules.py checks the lr trace against timm's own
schedulers for the same arguments. Warm-up by a factor that multiplies the schedule (the
torchvision references' way) is kept for the specs written that way. Multistep milestones
follow torch's MultiStepLR (decay from epoch m on); timm's class applies milestone m one
epoch earlier, which `viprepro spec import-timm` converts.
"""

from __future__ import annotations

import math

import torch


def parameter_groups(model: torch.nn.Module, spec: dict):
    """All parameters, or (no_decay_norm_bias) timm's two groups: 1-d/bias without decay, the rest with it."""
    if spec.get("no_decay_norm_bias") and spec.get("weight_decay", 0.0):
        from timm.optim import param_groups_weight_decay

        return param_groups_weight_decay(model, weight_decay=spec["weight_decay"])
    return model.parameters()


def build_optimizer(model_or_params, spec: dict) -> torch.optim.Optimizer:
    params = parameter_groups(model_or_params, spec) if isinstance(model_or_params, torch.nn.Module) else model_or_params
    name = spec["name"]
    weight_decay = spec.get("weight_decay", 0.0)
    eps = {"eps": spec["eps"]} if spec.get("eps") is not None else {}
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=spec["lr"],
            momentum=spec.get("momentum", 0.9),
            dampening=spec.get("dampening", 0.0),
            nesterov=spec.get("nesterov", False),
            weight_decay=weight_decay,
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=spec["lr"], betas=tuple(spec.get("betas", (0.9, 0.999))), weight_decay=weight_decay, **eps)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=spec["lr"], betas=tuple(spec.get("betas", (0.9, 0.999))), weight_decay=weight_decay, **eps)
    alpha = spec.get("alpha") if spec.get("alpha") is not None else 0.9  # timm's factory uses 0.9 for both RMSprops
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=spec["lr"],
            alpha=alpha,
            momentum=spec.get("momentum", 0.9),
            centered=spec.get("centered", False),
            weight_decay=weight_decay,
            **eps,
        )
    if name == "rmsprop_tf":
        from timm.optim import RMSpropTF

        return RMSpropTF(params, lr=spec["lr"], alpha=alpha, momentum=spec.get("momentum", 0.9), weight_decay=weight_decay, **eps)
    if name == "lamb":
        from timm.optim import Lamb

        return Lamb(params, lr=spec["lr"], betas=tuple(spec.get("betas", (0.9, 0.999))), weight_decay=weight_decay, **eps)
    raise ValueError(f"unknown optimizer {name!r}")


def _cycle(schedule: dict, t: float, t_initial: float) -> tuple[int, float, float]:
    """(cycle index, time in the cycle, cycle length), as timm's CosineLRScheduler computes them."""
    mul = schedule.get("cycle_mul", 1.0)
    if mul != 1:
        i = math.floor(math.log(1 - t / t_initial * (1 - mul), mul))
        t_i = mul**i * t_initial
        t_curr = t - (1 - mul**i) / (1 - mul) * t_initial
    else:
        i = int(t // t_initial)
        t_i = t_initial
        t_curr = t - t_initial * i
    return i, t_curr, t_i


def _annealed(schedule: dict, name: str, t: float, total: float, base: float) -> float:
    """cosine / polynomial lr at time t (epochs or iterations), with restarts."""
    t_initial = schedule.get("cycle_epochs_t") or total
    lr_min = schedule.get("min_lr", 0.0)
    i, t_curr, t_i = _cycle(schedule, t, t_initial)
    if i >= schedule.get("cycle_limit", 1):
        return lr_min
    lr_max = base * schedule.get("cycle_decay", 1.0) ** i
    if name == "cosine":
        return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_curr / t_i))
    return lr_min + (lr_max - lr_min) * (1 - t_curr / t_i) ** schedule.get("power", 0.9)


def lr_factor(schedule: dict, epochs: int, steps_per_epoch: int, step: int) -> float:
    """Multiplier of the base lr at global iteration `step` (0-based).

    Time is counted in iterations (`per: iteration`, the default) or in whole epochs
    (`per: epoch`). Step and multistep decays fall on (fractional) epoch boundaries.
    """
    name = schedule.get("name", "constant")
    steps = max(1, steps_per_epoch)
    per_epoch = schedule.get("per", "iteration") == "epoch"
    epoch = step // steps
    if per_epoch:  # timm's t_in_epochs: time is the epoch index, every length in epochs
        t, unit, total = float(epoch), 1, epochs
    else:
        t, unit, total = float(step), steps, epochs * steps
    warmup_t = schedule.get("warmup_epochs", 0) * unit
    warmup_t = warmup_t if per_epoch else int(round(warmup_t))
    base = schedule["base_lr"]
    if schedule.get("warmup_lr") is not None and warmup_t and t < warmup_t:  # timm: absolute start, replaces the schedule
        start = schedule["warmup_lr"]
        return (start + t * (base - start) / warmup_t) / base
    if schedule.get("warmup_prefix") and warmup_t:
        t = t - warmup_t
        epoch = epoch - schedule.get("warmup_epochs", 0)
    if name == "constant":
        factor = 1.0
    elif name == "step":
        size = schedule.get("step_size", 30)
        if float(size).is_integer() and not schedule.get("warmup_prefix"):
            factor = schedule.get("gamma", 0.1) ** (epoch // int(size))
        else:
            factor = schedule.get("gamma", 0.1) ** ((t / unit) // size)
    elif name == "multistep":
        now = epoch if per_epoch or not schedule.get("warmup_prefix") else t / unit
        passed = sum(1 for m in schedule.get("milestones", []) if now >= m)
        factor = schedule.get("gamma", 0.1) ** passed
    elif name in ("cosine", "polynomial"):
        if name == "cosine" and not _has_cycles(schedule) and schedule.get("min_lr", 0.0) == 0.0 and not schedule.get("warmup_prefix"):
            factor = 0.5 * (1 + math.cos(math.pi * t / max(1, total)))  # the first release's formula, bit for bit
        else:
            cycle = schedule.get("cycle_epochs")
            schedule = {**schedule, "cycle_epochs_t": cycle * unit if cycle else None}
            length = max(1, total - (warmup_t if schedule.get("warmup_prefix") else 0))
            factor = _annealed(schedule, name, t, length, base) / base
    else:
        raise ValueError(f"unknown lr schedule {name!r}")
    if schedule.get("warmup_lr") is None and warmup_t and t < warmup_t:
        start = schedule.get("warmup_factor", 0.001)
        factor *= start + (1 - start) * t / warmup_t
    return factor


def _has_cycles(schedule: dict) -> bool:
    return (
        bool(schedule.get("cycle_epochs"))
        or schedule.get("cycle_mul", 1.0) != 1.0
        or schedule.get("cycle_limit", 1) != 1
        or schedule.get("cycle_decay", 1.0) != 1.0
    )


def build_scheduler(optimizer, schedule: dict, epochs: int, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-iteration LambdaLR; its state (last step) goes into the checkpoint."""
    schedule = {**schedule, "base_lr": optimizer.param_groups[0]["lr"]}
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(schedule, epochs, steps_per_epoch, step))
