"""timm's augmentations inside viprepro's seeded pipelines.

timm's RandAugment / AugMix / AutoAugment and its RandomErasing draw from Python's `random`
and NumPy, which the engine does not reseed per epoch. `TorchSeeded` runs such a transform
with both seeded from one number drawn from torch's RNG (the one the engine seeds from
(seed, member, epoch) and the loader seeds per worker), then puts their states back: the
same seed gives the same images, and a resumed run draws what the uninterrupted run drew.
"""

from __future__ import annotations

import random

import numpy as np
import torch


class TorchSeeded:
    def __init__(self, transform):
        self.transform = transform

    def __call__(self, *inputs):
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        py_state, np_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            return self.transform(*inputs)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)

    def __repr__(self) -> str:
        return f"TorchSeeded({self.transform!r})"


def timm_policy(policy: str, input_size: int, mean, interpolation: str = "bilinear"):
    """The transform timm's create_transform builds for an `auto_augment` string (on PIL images)."""
    from timm.data.auto_augment import augment_and_mix_transform, auto_augment_transform, rand_augment_transform
    from timm.data.transforms import str_to_pil_interp

    params = {"translate_const": int(input_size * 0.45), "img_mean": tuple(min(255, round(255 * x)) for x in mean)}
    if interpolation != "random":
        params["interpolation"] = str_to_pil_interp(interpolation)
    try:
        if policy.startswith("rand"):
            transform = rand_augment_transform(policy, params)
        elif policy.startswith("augmix"):
            transform = augment_and_mix_transform(policy, {**params, "translate_pct": 0.3})
        else:
            transform = auto_augment_transform(policy, params)
    except (AssertionError, KeyError, ValueError) as exc:
        from viprepro.errors import UserError

        raise UserError(
            f"timm cannot read augmentation string {policy!r} ({type(exc).__name__}: {exc})", where="key 'recipe.augment.timm_policy'"
        ) from None
    return TorchSeeded(transform)


def timm_random_erasing(probability: float, mode: str, count: int):
    """timm's RandomErasing on a normalised CxHxW tensor (const, rand or per-pixel normal fill)."""
    from timm.data.random_erasing import RandomErasing

    return TorchSeeded(RandomErasing(probability=probability, mode=mode, max_count=count, device="cpu"))
