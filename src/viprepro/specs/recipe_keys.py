"""Which keys each optimiser, schedule and loss reads: a key the chosen one ignores is refused.

The schemas list every key any of them reads (with defaults); this table (and each task's
`loss_keys`) says which of those a given name reads, so `optimizer: {name: adam, momentum: 0.5}` fails when the spec is loaded
instead of training without the momentum the author thought was applied. Kept free of torch
so that `snakemake -n` checks specs without loading it.
"""

from __future__ import annotations

from viprepro.errors import UserError

_SCHEDULE_COMMON = {"name", "per", "warmup_epochs", "warmup_factor", "warmup_lr", "warmup_prefix"}
_CYCLES = {"min_lr", "cycle_epochs", "cycle_mul", "cycle_decay", "cycle_limit"}

READS = {
    "optimizer": {
        "sgd": {"name", "lr", "momentum", "nesterov", "dampening", "weight_decay", "no_decay_norm_bias"},
        "adam": {"name", "lr", "betas", "eps", "weight_decay", "no_decay_norm_bias"},
        "adamw": {"name", "lr", "betas", "eps", "weight_decay", "no_decay_norm_bias"},
        "rmsprop": {"name", "lr", "alpha", "eps", "momentum", "centered", "weight_decay", "no_decay_norm_bias"},
        "rmsprop_tf": {"name", "lr", "alpha", "eps", "momentum", "weight_decay", "no_decay_norm_bias"},
        "lamb": {"name", "lr", "betas", "eps", "weight_decay", "no_decay_norm_bias"},
    },
    "lr_schedule": {
        "constant": _SCHEDULE_COMMON,
        "step": _SCHEDULE_COMMON | {"step_size", "gamma"},
        "multistep": _SCHEDULE_COMMON | {"milestones", "gamma"},
        "cosine": _SCHEDULE_COMMON | _CYCLES,
        "polynomial": _SCHEDULE_COMMON | _CYCLES | {"power"},
    },
}


def _defaults(task, part: str) -> dict:
    from viprepro.files.schemas_io import validation_schema

    properties = validation_schema(task.schema("recipe"))["properties"].get(part, {}).get("properties", {})
    return {key: prop["default"] for key, prop in properties.items() if "default" in prop}


def check_written_keys(recipe: dict, task: str, *, path=None, prefix: str = "recipe") -> None:
    """Refuse a key that the recipe sets but its chosen optimiser, schedule or loss never reads.

    Runs on the recipe as written, before defaults are filled in. A key written with its
    default value is let through: it changes nothing, and a spec saved with every default
    filled in (a certificate's copy) must load again."""
    if not isinstance(recipe, dict):
        return
    from viprepro.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    tables = {"optimizer": READS["optimizer"], "lr_schedule": READS["lr_schedule"], "loss": task.loss_keys}
    for part, table in tables.items():
        written = recipe.get(part)
        if not isinstance(written, dict) or not table:
            continue
        name = written.get("name", "cross_entropy" if part == "loss" else "constant")
        reads = table.get(name)
        if reads is None:
            continue  # an unknown name: the schema names it
        defaults = _defaults(task, part)
        for key in sorted(k for k in set(written) - reads if k not in defaults or written[k] != defaults[k]):
            raise UserError(
                f"{part} '{name}' does not use '{key}' (it reads: {', '.join(sorted(reads - {'name'}))})",
                path=path,
                where=f"key '{prefix}.{part}.{key}'",
            )
    task.check_recipe_keys(recipe, path=path)
    schedule = recipe.get("lr_schedule")
    if isinstance(schedule, dict) and schedule.get("warmup_lr") is not None and schedule.get("warmup_factor", 0.001) != 0.001:
        raise UserError(
            "set either warmup_lr (absolute start) or warmup_factor (relative start), not both",
            path=path,
            where=f"key '{prefix}.lr_schedule.warmup_factor'",
        )
    if recipe.get("amp") and recipe.get("precision", "fp32") != "fp32":
        raise UserError("set either amp (fp16 on CUDA only) or precision, not both", path=path, where=f"key '{prefix}.amp'")
