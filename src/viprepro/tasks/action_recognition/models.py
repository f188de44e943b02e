"""Video classifiers, all built from scratch (weights=None).

- torchvision's 18-layer video ResNets (Tran et al., "A Closer Look at Spatiotemporal
  Convolutions for Action Recognition", CVPR 2018): `r3d_18` (3D convolutions), `mc3_18`
  (3D in the first layers, 2D after), `r2plus1d_18` (each 3D convolution factorised into a
  spatial and a temporal one);
- `tiny3d`: four 3x3x3 convolution stages for CPU runs on small clips. Spatial resolution
  halves after every stage and time after the second, so the first two stages still see
  frame-to-frame motion at full temporal resolution;
- `torchvision/<name>`: any torchvision video model (`torchvision/s3d`, `torchvision/mvit_v2_s`, ...).
"""

from __future__ import annotations

from torch import nn

from viprepro.errors import UserError
from viprepro.training.library_models import call_builder, from_library, torchvision_from_scratch


class Tiny3D(nn.Module):
    def __init__(self, num_classes: int, width: int = 16, dropout: float = 0.0):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 4 * width]
        pools = [(1, 2, 2), (2, 2, 2), (2, 2, 2), None]
        layers, channels = [], 3
        for out, pool in zip(widths, pools):
            layers += [nn.Conv3d(channels, out, 3, padding=1, bias=False), nn.BatchNorm3d(out), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool3d(pool))
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.head(self.features(x))


REGISTRY = {
    "r3d_18": torchvision_from_scratch("r3d_18"),
    "mc3_18": torchvision_from_scratch("mc3_18"),
    "r2plus1d_18": torchvision_from_scratch("r2plus1d_18"),
    "tiny3d": Tiny3D,
}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    builder = REGISTRY.get(name) or (from_library(name) if name.startswith("torchvision/") else None)
    if builder is None:
        raise UserError(
            f"unknown action recognition model '{name}' (known: {', '.join(sorted(REGISTRY))}, torchvision/<video model>)",
            where="model.name",
        )
    return call_builder(builder, name, num_classes=num_classes, **kwargs)
