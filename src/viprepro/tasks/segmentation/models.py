"""Segmentation architectures, all built from scratch (weights=None, weights_backbone=None).

- `unet`: the official baseline's U-Net (Ronneberger et al. 2015) with BatchNorm, as in the
  toolkit's `helpers/model.py`: double 3x3 conv blocks, max-pool down, bilinear
  (align_corners) up, skip concatenation. `width` is the first block's channel count (64 in
  the baseline; the CPU recipes use fewer);
- torchvision's FCN, DeepLabV3 and LR-ASPP (bare names, or any as `torchvision/<name>`),
  returning their main output only.
Every model predicts 20 channels: the 19 evaluated classes in train-id order and void.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from viprepro.errors import UserError
from viprepro.tasks.segmentation.labels import NUM_TRAIN_CLASSES
from viprepro.training.library_models import call_builder

NUM_OUTPUTS = NUM_TRAIN_CLASSES + 1


def double_conv(in_ch: int, out_ch: int, batchnorm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in in (in_ch, out_ch):
        layers.append(nn.Conv2d(c_in, out_ch, 3, padding=1))
        if batchnorm:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Up(nn.Module):
    """Upsample x2, pad to the skip's size, concatenate, double conv."""

    def __init__(self, in_ch: int, out_ch: int, batchnorm: bool):
        super().__init__()
        self.conv = double_conv(in_ch, out_ch, batchnorm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    def __init__(self, num_classes: int = NUM_OUTPUTS, width: int = 64, batchnorm: bool = True):
        super().__init__()
        w = width
        self.inc = double_conv(3, w, batchnorm)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(c_in, c_out, batchnorm))
            for c_in, c_out in ((w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w), (8 * w, 8 * w))
        )
        self.ups = nn.ModuleList(Up(c_in, c_out, batchnorm) for c_in, c_out in ((16 * w, 4 * w), (8 * w, 2 * w), (4 * w, w), (2 * w, w)))
        self.outc = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)


class MainOutput(nn.Module):
    """A torchvision segmentation model that returns its `out` tensor instead of a dict."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def _torchvision(name: str):
    def build(num_classes: int = NUM_OUTPUTS, **kwargs) -> nn.Module:
        return MainOutput(torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=num_classes, **kwargs))

    return build


REGISTRY = {
    "unet": UNet,
    "fcn_resnet50": _torchvision("fcn_resnet50"),
    "deeplabv3_resnet50": _torchvision("deeplabv3_resnet50"),
    "deeplabv3_mobilenet_v3_large": _torchvision("deeplabv3_mobilenet_v3_large"),
    "lraspp_mobilenet_v3_large": _torchvision("lraspp_mobilenet_v3_large"),
}


def build(name: str, **kwargs) -> nn.Module:
    builder = REGISTRY.get(name)
    if builder is None and name.startswith("torchvision/"):
        builder = _torchvision(name.partition("/")[2])
    if builder is None:
        raise UserError(
            f"unknown segmentation model '{name}' (known: {', '.join(sorted(REGISTRY))}, torchvision/<segmentation model>)",
            where="model.name",
        )
    return call_builder(builder, name, **kwargs)
