"""Classification architectures, all built from scratch (weights=None).

- torchvision ResNets ("Same-Conv": the usual k//2 zero padding);
- `resnet50_fullconv`: the Full-Conv ResNet-50 of Kayhan & van Gemert, "On Translation
  Invariance in CNNs: Convolutional Layers can Exploit Absolute Spatial Location" (CVPR
  2020), the challenge's stronger baseline. Every k x k convolution pads k-1 (a "full"
  convolution, so each input pixel is seen by every kernel position and the border gives
  no absolute-position cue), max pooling is 2x2 without padding, and residual shortcuts
  are zero-padded to the grown branch;
- `resnet_small`: a CIFAR-style ResNet for small inputs, sized for CPU runs;
- `torchvision/<name>` and `timm/<name>`: any architecture of those libraries (e.g.
  `timm/efficientnet_b4`), from scratch (see viprepro.specs.model_names and viprepro.training.library_models).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from viprepro.errors import UserError
from viprepro.training.library_models import call_builder, from_library, torchvision_from_scratch


class FullConvBottleneck(nn.Module):
    """A torchvision Bottleneck turned into a full convolution block.

    The 3x3 convolution pads 2 and so grows the map by 2; the shortcut (identity, or the
    strided 1x1 projection) sees the input zero-padded by 1 to match.
    """

    def __init__(self, block: Bottleneck):
        super().__init__()
        block.conv2.padding = (2, 2)
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        out = b.relu(b.bn1(b.conv1(x)))
        out = b.relu(b.bn2(b.conv2(out)))
        out = b.bn3(b.conv3(out))
        shortcut = F.pad(x, (1, 1, 1, 1))
        if b.downsample is not None:
            shortcut = b.downsample(shortcut)
        return b.relu(out + shortcut)


def resnet50_fullconv(num_classes: int) -> nn.Module:
    model = torchvision.models.resnet50(weights=None, num_classes=num_classes)
    model.conv1.padding = (6, 6)
    model.maxpool = nn.MaxPool2d(kernel_size=2, stride=2, padding=0)
    for name in ("layer1", "layer2", "layer3", "layer4"):
        layer = getattr(model, name)
        setattr(model, name, nn.Sequential(*(FullConvBottleneck(block) for block in layer)))
    return model


class SmallResNet(nn.Module):
    """Three stages of BasicBlocks (widths w, 2w, 4w) on a 3x3 stem: ResNet-20 at depth=3."""

    def __init__(self, num_classes: int, width: int = 16, depth: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, channels = [], width
        for stage in range(3):
            out = width * 2**stage
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                down = None
                if stride != 1 or channels != out:
                    down = nn.Sequential(nn.Conv2d(channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
                stages.append(BasicBlock(channels, out, stride=stride, downsample=down))
                channels = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


REGISTRY = {
    "resnet18": torchvision_from_scratch("resnet18"),
    "resnet34": torchvision_from_scratch("resnet34"),
    "resnet50": torchvision_from_scratch("resnet50"),
    "resnet50_fullconv": resnet50_fullconv,
    "resnet_small": SmallResNet,
}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    builder = REGISTRY.get(name) or from_library(name)
    if builder is None:
        raise UserError(
            f"unknown classification model '{name}' (known: {', '.join(sorted(REGISTRY))}, torchvision/<name>, timm/<name>)",
            where="model.name",
        )
    return call_builder(builder, name, num_classes=num_classes, **kwargs)
