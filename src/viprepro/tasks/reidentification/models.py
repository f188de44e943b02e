"""Re-identification networks: Open-ReID's ResNet with its embedding head, and a small CPU net.

Open-ReID's `models/resnet.py` (2021 toolkit) puts on a torchvision ResNet's pooled features
a `Linear(2048, num_features)` + `BatchNorm1d` embedding, a ReLU, dropout and a
classifier over the training identities; without pre-training (`pretrained=False`, the
baseline's default) `reset_params` initialises every convolution Kaiming-normal (fan_out),
every BatchNorm to (1, 0) and every Linear, the embedding too, N(0, 0.001) with zero bias.
Its features at test time are the network's output, the classifier's logits (the
baseline's `extract_cnn_feature` calls `model(inputs)`); `feature: embedding` takes the
embedding instead. Always built from scratch (torchvision `weights=None`).
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

FEATURES = ("logits", "embedding")
DEPTHS = {18: "resnet18", 34: "resnet34", 50: "resnet50", 101: "resnet101", 152: "resnet152"}


class ReIDNet(nn.Module):
    """A trunk giving CxHxW maps, then Open-ReID's head (embedding, ReLU, dropout, classifier)."""

    def __init__(self, trunk: nn.Module, channels: int, num_classes: int, *, num_features: int, dropout: float, feature: str):
        super().__init__()
        if feature not in FEATURES:
            raise ValueError(f"feature must be one of {FEATURES}, got {feature!r}")
        self.base = trunk
        self.feature = feature
        self.has_embedding = num_features > 0
        if self.has_embedding:
            self.feat = nn.Linear(channels, num_features)
            self.feat_bn = nn.BatchNorm1d(num_features)
        self.num_features = num_features if self.has_embedding else channels
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(self.num_features, num_classes)
        self.reset_params()

    def reset_params(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        x = self.base(x)
        x = F.avg_pool2d(x, x.shape[2:]).flatten(1)
        if self.has_embedding:
            x = F.relu(self.feat_bn(self.feat(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.drop(self.embedding(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the distance matrix is computed on (call in eval mode)."""
        return self(x) if self.feature == "logits" else self.embedding(x)


def openreid_resnet(
    num_classes: int, *, depth: int = 50, num_features: int = 128, dropout: float = 0.5, feature: str = "logits"
) -> ReIDNet:
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth}")
    resnet = getattr(torchvision.models, DEPTHS[depth])(weights=None)
    trunk = nn.Sequential(*(module for name, module in resnet.named_children() if name not in ("avgpool", "fc")))
    return ReIDNet(trunk, resnet.fc.in_features, num_classes, num_features=num_features, dropout=dropout, feature=feature)


def small_reid(
    num_classes: int,
    *,
    widths: list[int] | tuple[int, ...] = (16, 32, 64),
    num_features: int = 64,
    dropout: float = 0.0,
    feature: str = "logits",
) -> ReIDNet:
    """Conv-BN-ReLU pairs, one stride-2 stage per width: a CPU-sized trunk for the embedded default."""
    layers, channels = [], 3
    for width in widths:
        layers += [
            nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        channels = width
    return ReIDNet(nn.Sequential(*layers), channels, num_classes, num_features=num_features, dropout=dropout, feature=feature)


BUILDERS = {"openreid_resnet": openreid_resnet, "small_reid": small_reid}


def build(name: str, num_classes: int, **kwargs) -> ReIDNet:
    if name not in BUILDERS:
        raise ValueError(f"unknown re-identification model {name!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[name](num_classes, **kwargs)
