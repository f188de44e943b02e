"""The views a pretext task learns from, and the keys each pretext method reads.

Each method's augmentations are the ones its paper defines, built from torchvision's
transforms.v2 on uint8 CxHxW tensors (what the classification task's datasets decode and
cache). Every random draw of v2's transforms comes from torch's global RNG, which the engine
seeds from (seed, member, epoch) and the loader seeds per worker: the same seed gives the same
views, and a resumed run draws what the uninterrupted run drew. Nothing here touches NumPy's or
Python's RNG.

- `moco_v2`: MoCo v2's "aug+" (Chen et al. 2020, arXiv 2003.04297): RandomResizedCrop
  (scale 0.2-1), ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale p 0.2, Gaussian blur
  sigma 0.1-2 with p 0.5, horizontal flip; two views.
- `moco_v1`: MoCo v1's (the InstDisc augmentation): RandomResizedCrop (scale 0.2-1),
  grayscale p 0.2, ColorJitter(0.4, 0.4, 0.4, 0.4) always, horizontal flip; two views.
- `simclr`: SimCLR (Chen et al. 2020, arXiv 2002.05709, appendix A): RandomResizedCrop
  (scale 0.08-1), flip, ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) with p 0.8 (`hue` replaces the
  hue jitter alone, for data whose hue is a class cue), grayscale p 0.2,
  Gaussian blur (kernel 10 % of the image side, sigma 0.1-2) with p 0.5; the paper drops the
  blur on 32-pixel CIFAR images, so its default probability is 0 at input sizes <= 32. Two views.
- `rotation`: RotNet (Gidaris et al. 2018): one crop (RandomResizedCrop, flip) and its four
  rotations by 0, 90, 180 and 270 degrees, in that order: the label of view i is i.

The blur's sigma is in pixels, as the papers state it at ImageNet resolution (MoCo's blur is
PIL's radius); the kernel covers +-3 sigma for MoCo and 10 % of the side for SimCLR, never more
than the image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

#: The pretext methods a `pretext` stage may name.
PRETEXT_METHODS = ("moco_v2", "simclr", "rotation", "moco_v1")

# The normalisation of viprepro.tasks.classification.data (ImageNet's): the next stage's
# classifier sees inputs on the scale the backbone was pre-trained on.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

# Keys of the stage's `pretext:` mapping per method (besides `name` and `augment`), with
# their defaults: the papers' values (MoCo v2: temperature 0.2, MLP head; MoCo v1: 0.07, linear).
_MOCO = {"dim": 128, "queue": 4096, "momentum": 0.999, "mlp": True, "margin": 0.0, "shuffle_groups": 1}
METHOD_DEFAULTS: dict[str, dict] = {
    "moco_v2": {**_MOCO, "temperature": 0.2},
    "moco_v1": {**_MOCO, "temperature": 0.07, "mlp": False},
    "simclr": {"dim": 128, "temperature": 0.5},
    "rotation": {},
}

# Keys of `pretext.augment` per method, with their defaults.
AUGMENT_DEFAULTS: dict[str, dict] = {
    "moco_v2": {
        "scale": (0.2, 1.0),
        "color_jitter": (0.4, 0.4, 0.4, 0.1),
        "jitter_p": 0.8,
        "grayscale_p": 0.2,
        "blur_p": 0.5,
        "blur_sigma": (0.1, 2.0),
        "hflip": True,
    },
    "moco_v1": {"scale": (0.2, 1.0), "color_jitter": (0.4, 0.4, 0.4, 0.4), "grayscale_p": 0.2, "hflip": True},
    "simclr": {
        "scale": (0.08, 1.0),
        "color_strength": 1.0,
        "hue": None,  # None: 0.2 * color_strength (the paper's); a number replaces only the hue jitter
        "jitter_p": 0.8,
        "grayscale_p": 0.2,
        "blur_p": None,  # None: 0.5, or 0 at input sizes <= 32 (the paper's CIFAR setting)
        "blur_sigma": (0.1, 2.0),
        "hflip": True,
    },
    "rotation": {"scale": (0.08, 1.0), "hflip": True},
}


def pretext_keys(name: str) -> set[str]:
    """The keys a `pretext:` mapping naming `name` may hold: what the code reads, nothing else.

    Spec loading refuses any other key (with its path), so no field that no code reads exists."""
    _known(name)
    return {"name", "augment", *METHOD_DEFAULTS[name]}


def augment_keys(name: str) -> set[str]:
    """The keys `pretext.augment` may hold for method `name`."""
    _known(name)
    return set(AUGMENT_DEFAULTS[name])


def resolve(method: dict) -> tuple[str, dict, dict]:
    """(name, method settings, augmentation settings), defaults filled in.

    A key the chosen method does not read is a ValueError naming it (`augment.blur` for a
    nested one), so a misspelt setting never silently falls back to its default."""
    if not isinstance(method, dict) or "name" not in method:
        raise ValueError("the pretext mapping needs a 'name' (one of: " + ", ".join(PRETEXT_METHODS) + ")")
    name = method["name"]
    _known(name)
    unknown = sorted(set(method) - pretext_keys(name))
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}' for pretext method '{name}' (known: {', '.join(sorted(pretext_keys(name)))})")
    augment = method.get("augment") or {}
    if not isinstance(augment, dict):
        raise ValueError("key 'augment' must be a mapping")
    unknown = sorted(set(augment) - augment_keys(name))
    if unknown:
        raise ValueError(f"unknown key 'augment.{unknown[0]}' for pretext method '{name}' (known: {', '.join(sorted(augment_keys(name)))})")
    settings = {**METHOD_DEFAULTS[name], **{k: v for k, v in method.items() if k not in ("name", "augment")}}
    augment = {**AUGMENT_DEFAULTS[name], **augment}
    _check_augment(augment)
    return name, settings, augment


def _numbers(value, count: int) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == count
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
    )


def _check_augment(augment: dict) -> None:
    """Values torchvision would refuse later with a message that names no key, refused here by key."""
    for key, value in augment.items():
        if key.endswith("_p") and value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ValueError(f"key 'augment.{key}' must be a probability in [0, 1] (got {value!r})")
    if not (_numbers(augment["scale"], 2) and 0 < augment["scale"][0] <= augment["scale"][1] <= 1):
        raise ValueError(f"key 'augment.scale' must be [low, high] with 0 < low <= high <= 1 (got {augment['scale']!r})")
    if "blur_sigma" in augment and not (_numbers(augment["blur_sigma"], 2) and 0 < augment["blur_sigma"][0] <= augment["blur_sigma"][1]):
        raise ValueError(f"key 'augment.blur_sigma' must be [low, high] with 0 < low <= high (got {augment['blur_sigma']!r})")
    if "color_jitter" in augment and not (
        _numbers(augment["color_jitter"], 4) and all(x >= 0 for x in augment["color_jitter"]) and augment["color_jitter"][3] <= 0.5
    ):
        raise ValueError(
            f"key 'augment.color_jitter' must be [brightness, contrast, saturation, hue], non-negative, hue <= 0.5 (got {augment['color_jitter']!r})"
        )
    if augment.get("hue") is not None and not (
        isinstance(augment["hue"], (int, float)) and not isinstance(augment["hue"], bool) and 0 <= augment["hue"] <= 0.5
    ):
        raise ValueError(f"key 'augment.hue' must be in [0, 0.5] or null (got {augment['hue']!r})")
    if "color_strength" in augment and not (isinstance(augment["color_strength"], (int, float)) and 0 <= augment["color_strength"] <= 2.5):
        raise ValueError(f"key 'augment.color_strength' must be in [0, 2.5] (hue jitter 0.2 s <= 0.5) (got {augment['color_strength']!r})")
    if not isinstance(augment["hflip"], bool):
        raise ValueError(f"key 'augment.hflip' must be true or false (got {augment['hflip']!r})")


def _known(name: str) -> None:
    if name not in PRETEXT_METHODS:
        raise ValueError(f"unknown pretext method '{name}' (known: {', '.join(PRETEXT_METHODS)})")


def _odd(size: float, limit: int) -> int:
    """The odd kernel size nearest below `size`, at least 3, at most the image side."""
    kernel = max(3, int(size) // 2 * 2 + 1)
    largest = limit if limit % 2 else limit - 1
    return max(3, min(kernel, largest))


def _crop_flip(size: int, augment: dict) -> list:
    steps = [v2.RandomResizedCrop(size, scale=tuple(augment["scale"]), antialias=True)]
    return steps + ([v2.RandomHorizontalFlip()] if augment["hflip"] else [])


def _moco_v2(size: int, augment: dict) -> list:
    sigma = tuple(augment["blur_sigma"])
    steps = [
        v2.RandomResizedCrop(size, scale=tuple(augment["scale"]), antialias=True),
        v2.RandomApply([v2.ColorJitter(*augment["color_jitter"])], p=augment["jitter_p"]),
        v2.RandomGrayscale(p=augment["grayscale_p"]),
        v2.RandomApply([v2.GaussianBlur(_odd(6 * sigma[1] + 1, size), sigma=sigma)], p=augment["blur_p"]),
    ]
    return steps + ([v2.RandomHorizontalFlip()] if augment["hflip"] else [])


def _moco_v1(size: int, augment: dict) -> list:
    steps = [
        v2.RandomResizedCrop(size, scale=tuple(augment["scale"]), antialias=True),
        v2.RandomGrayscale(p=augment["grayscale_p"]),
        v2.ColorJitter(*augment["color_jitter"]),
    ]
    return steps + ([v2.RandomHorizontalFlip()] if augment["hflip"] else [])


def _simclr(size: int, augment: dict) -> list:
    s = augment["color_strength"]
    hue = 0.2 * s if augment["hue"] is None else augment["hue"]
    blur_p = augment["blur_p"] if augment["blur_p"] is not None else (0.0 if size <= 32 else 0.5)
    return _crop_flip(size, augment) + [
        v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, hue)], p=augment["jitter_p"]),
        v2.RandomGrayscale(p=augment["grayscale_p"]),
        v2.RandomApply([v2.GaussianBlur(_odd(0.1 * size, size), sigma=tuple(augment["blur_sigma"]))], p=blur_p),
    ]


_PIPELINES = {"moco_v2": _moco_v2, "moco_v1": _moco_v1, "simclr": _simclr, "rotation": _crop_flip}


def pretext_views(method: dict, input_size: int, *, mean=MEAN, std=STD) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """A per-sample view maker: uint8 CxHxW image -> list of normalised float CxHxW views.

    Two independently augmented views for the contrastive methods, the four rotations of one
    crop for `rotation`. It runs in the loader's workers and draws from torch's RNG only."""
    name, _, augment = resolve(method)
    augmented = v2.Compose([*_PIPELINES[name](input_size, augment), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])
    if name == "rotation":
        return RotatedViews(augmented)
    return TwoViews(augmented)


class TwoViews:
    """Two draws of the same augmentation (MoCo's TwoCropsTransform, SimCLR's pairs)."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [self.transform(image), self.transform(image)]

    def __repr__(self) -> str:
        return f"TwoViews({self.transform!r})"


class RotatedViews:
    """One crop rotated by 0, 90, 180 and 270 degrees (counter-clockwise): view i has label i."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image: torch.Tensor) -> list[torch.Tensor]:
        crop = self.transform(image)
        return [torch.rot90(crop, turns, dims=(1, 2)) for turns in range(4)]

    def __repr__(self) -> str:
        return f"RotatedViews({self.transform!r})"
