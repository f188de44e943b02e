"""Recipe options that buy speed with exactness: precision, channels_last, torch.compile.

Each is off by default, and off they change nothing (the fp32 eager loop of the first
release). `record` says, for the training record and the determinism record, what each
option that is on costs in bit-exactness, in one plain sentence each.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What each option costs in bit-exactness (shown in the training record and the certificate).
COSTS = {
    "precision:bf16": (
        "bf16 autocast rounds activations and most matmul/convolution results to 8 mantissa bits: "
        "weights differ from an fp32 run after the first step, and a bf16 run is bit-identical only to "
        "another bf16 run on the same device model and library build"
    ),
    "precision:fp16": (
        "fp16 autocast rounds to 11 mantissa bits and the gradient scaler skips steps whose gradients "
        "overflow: weights differ from an fp32 run, and an fp16 run is bit-identical only to another fp16 "
        "run on the same device model and library build"
    ),
    "channels_last": (
        "channels_last changes the memory layout and so the convolution kernels chosen: results may differ "
        "from a contiguous-layout run in the last bits (bit-identical between channels_last runs on the same "
        "hardware and build)"
    ),
    "compile": (
        "torch.compile fuses operations into generated kernels whose summation order differs from eager mode: "
        "results differ from an eager run in the last bits; generated kernels depend on the compiler version too"
    ),
    "distributed": (
        "several processes: augmentations draw from per-rank streams, batch-norm statistics are per rank "
        "(unless sync_batchnorm) and gradients are reduced in another order, so a distributed run matches a "
        "one-process run only within a tolerance; it is bit-identical to a run with the same world size on "
        "the same hardware and build"
    ),
}

_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class Precision:
    """Autocast dtype (None: fp32 throughout) and whether a gradient scaler is needed (fp16)."""

    name: str
    dtype: object | None
    scaler: bool


def precision(recipe: dict, device_type: str) -> Precision:
    """The recipe's precision on this device.

    `precision` (fp32, bf16, fp16) applies on every device (CPU autocast knows bf16 and fp16).
    The older `amp: true` means fp16 on CUDA and nothing on the CPU, as it always did.
    """
    import torch

    name = recipe.get("precision", "fp32")
    if name == "fp32" and recipe.get("amp") and device_type == "cuda":
        name = "fp16"
    if name == "fp32":
        return Precision("fp32", None, False)
    return Precision(name, getattr(torch, _DTYPES[name]), name == "fp16")


def memory_format(model):
    """channels_last for 2-d models, channels_last_3d when the model has 5-d (video) weights."""
    import torch

    return torch.channels_last_3d if any(p.dim() == 5 for p in model.parameters()) else torch.channels_last


def compiled(module, recipe: dict):
    """torch.compile(module, mode=recipe['compile']) or the module itself when compile is off."""
    mode = recipe.get("compile")
    if not mode:
        return module
    import torch

    return torch.compile(module, mode=mode)


def record(recipe: dict, device_type: str, *, world_size: int = 1, sync_batchnorm: bool = False) -> dict:
    """The options in effect for this run and what each costs in bit-exactness."""
    chosen = precision(recipe, device_type).name
    options = {
        "precision": chosen,
        "channels_last": bool(recipe.get("channels_last")),
        "compile": recipe.get("compile"),
        "world_size": world_size,
        "sync_batchnorm": sync_batchnorm,
    }
    costs = []
    if chosen != "fp32":
        costs.append(COSTS[f"precision:{chosen}"])
    if options["channels_last"]:
        costs.append(COSTS["channels_last"])
    if options["compile"]:
        costs.append(COSTS["compile"])
    if world_size > 1:
        costs.append(COSTS["distributed"])
    return {**options, "bit_exactness_costs": costs}
