"""Instance segmentation architectures: torchvision Mask R-CNNs, always from scratch.

- `maskrcnn_resnet50_fpn`: the official baseline's architecture (detectron2
  `mask_rcnn_R_50_FPN_3x` with `MODEL.WEIGHTS = None`): ResNet-50 + FPN, RPN, a 2-FC box
  head of 1024 and a 4-conv mask head of 256. detectron2's config freezes the stem and res2
  (`FREEZE_AT: 2`) and uses FrozenBN (`RESNETS.NORM`) even without weights, so the defaults
  here are `norm_layer: frozen_bn` and `trainable_layers: 3`, as detection's R-18 baseline
  spells the same torchvision call.
- `maskrcnn_small_fpn`: detection's narrow ResNet + FPN (`small_fpn_backbone`) with small box
  and mask heads and anchors sized for small images: the CPU submission.

Both take the remaining keyword arguments of torchvision's `MaskRCNN`/`FasterRCNN`
(`min_size`, `max_size`, RPN and ROI budgets, ...) plus `anchor_sizes`, `aspect_ratios`,
`representation_size` (box head width) and `mask_layers` (mask head convolutions), and
refuse any other (torchvision swallows unknown keywords). `torchvision/<name>` builds any
torchvision detector from scratch, as detection's `build` does. Labels are the category ids
(1 human, 2 ball), so `num_classes` is 3 with the background.
"""

from __future__ import annotations

import inspect

from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

from viprepro.errors import UserError
from viprepro.tasks.detection import models as detection_models

ROI_SIZE = 7
MODULES = {
    "backbone",
    "rpn_anchor_generator",
    "rpn_head",
    "box_roi_pool",
    "box_head",
    "box_predictor",
    "mask_roi_pool",
    "mask_head",
    "mask_predictor",
}


def _mask_rcnn(
    backbone: nn.Module,
    num_classes: int,
    *,
    anchor_sizes=None,
    aspect_ratios=(0.5, 1.0, 2.0),
    representation_size: int = 1024,
    mask_layers=(256, 256, 256, 256),
    **kwargs,
) -> MaskRCNN:
    """MaskRCNN with its heads built here (torchvision's defaults unless sized otherwise)."""
    if anchor_sizes is not None:
        sizes = tuple(tuple(level) for level in anchor_sizes)
        kwargs["rpn_anchor_generator"] = AnchorGenerator(sizes, (tuple(aspect_ratios),) * len(sizes))
    layers = tuple(mask_layers)
    if not layers:
        raise UserError("mask_layers needs at least one convolution width", where="model.kwargs")
    return MaskRCNN(
        backbone,
        num_classes=None,
        box_head=TwoMLPHead(backbone.out_channels * ROI_SIZE**2, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        mask_head=MaskRCNNHeads(backbone.out_channels, layers, 1),
        mask_predictor=MaskRCNNPredictor(layers[-1], layers[-1], num_classes),
        **kwargs,
    )


def maskrcnn_resnet50_fpn(num_classes: int, *, norm_layer: str = "frozen_bn", trainable_layers: int = 3, **kwargs) -> MaskRCNN:
    body = resnet_fpn_backbone(
        backbone_name="resnet50", weights=None, norm_layer=detection_models.NORM_LAYERS[norm_layer], trainable_layers=trainable_layers
    )
    return _mask_rcnn(body, num_classes, **kwargs)


def maskrcnn_small_fpn(
    num_classes: int,
    *,
    widths=(16, 32, 64, 128),
    blocks: int = 2,
    fpn_channels: int = 64,
    representation_size: int = 256,
    mask_layers=(64, 64),
    **kwargs,
) -> MaskRCNN:
    backbone = detection_models.small_fpn_backbone(widths, blocks, fpn_channels)
    return _mask_rcnn(backbone, num_classes, representation_size=representation_size, mask_layers=mask_layers, **kwargs)


REGISTRY = {"maskrcnn_resnet50_fpn": maskrcnn_resnet50_fpn, "maskrcnn_small_fpn": maskrcnn_small_fpn}


def accepted_kwargs(name: str) -> set[str]:
    """What a spec may set: the builder's, `_mask_rcnn`'s, MaskRCNN's and FasterRCNN's plain arguments."""
    names = set()
    for function in (REGISTRY[name], _mask_rcnn, MaskRCNN.__init__, FasterRCNN.__init__):
        names |= {p.name for p in inspect.signature(function).parameters.values() if p.kind == p.KEYWORD_ONLY or p.default is not p.empty}
    return names - MODULES - {"num_classes"}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    if name.startswith("torchvision/"):
        return detection_models.build(name, num_classes, **kwargs)
    if name not in REGISTRY:
        raise UserError(
            f"unknown instance segmentation model '{name}' (known: {', '.join(sorted(REGISTRY))}, torchvision/<detection model>)",
            where="model.name",
        )
    unknown = sorted(set(kwargs) - accepted_kwargs(name))
    if unknown:
        raise UserError(f"{name} takes no argument(s) {', '.join(unknown)}", where="model.kwargs")
    if kwargs.get("norm_layer", "frozen_bn") not in detection_models.NORM_LAYERS:
        raise UserError(f"norm_layer must be one of {', '.join(detection_models.NORM_LAYERS)}", where="model.kwargs.norm_layer")
    return REGISTRY[name](num_classes, **kwargs)
