"""Tiny models and images for the self-supervised library's tests (CPU, seconds)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from viprepro.tasks.classification.models import SmallResNet


def tiny_resnet(classes: int = 5, width: int = 4) -> SmallResNet:
    return SmallResNet(classes, width=width, depth=1)


def structured_images(count: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """uint8 images with an up-down and left-right asymmetry (a bright top band, a smooth random field)."""
    generator = torch.Generator().manual_seed(seed)
    field = F.interpolate(torch.rand(count, 3, 4, 4, generator=generator), size=(size, size), mode="bilinear", align_corners=False)
    images = field * 0.6
    images[:, :, : size // 4] += 0.4
    images[:, 0, :, : size // 4] += 0.3
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)
