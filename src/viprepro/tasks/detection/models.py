"""Detection architectures, all torchvision Faster R-CNNs built from scratch.

- `fasterrcnn_resnet18_fpn` (and `_resnet50_fpn`): the official baseline, built as its
  `baseline/models.py` did with the torchvision of 2020: `resnet_fpn_backbone(name, False)`,
  whose defaults were FrozenBatchNorm2d and only layer2-4 trainable, even without
  pre-trained weights. The spec sets `norm_layer` and `trainable_layers` explicitly, so
  the same call means the same model on today's torchvision (whose own builders switch to
  BatchNorm and train everything when no weights are given).
- `cascadercnn_fpn`: Cascade R-CNN (three box stages, cascade.py) on a torchvision ResNet or
  a timm backbone under an FPN: the architecture of the first 2020 entry;
- `fasterrcnn_small_fpn`: a narrow ResNet (two BasicBlocks per stage) under the same FPN and
  heads, with anchors and head widths sized for small images: the CPU submission.

Every builder passes the remaining keyword arguments to `FasterRCNN` (`min_size`,
`max_size`, the RPN and ROI budgets, ...); a list of `min_size` values trains at several
scales (torchvision draws one per image). `torchvision/<name>` builds any torchvision
detector from scratch (weights=None, weights_backbone=None), arguments checked the same way.
Labels are the COCO category ids themselves, so
`num_classes` is the largest id + 1 (91 for COCO), as in torchvision's references.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from functools import partial

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.resnet import BasicBlock
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from viprepro.errors import UserError
from viprepro.tasks.detection.cascade import STAGE_IOUS, STAGE_REG_WEIGHTS, STAGE_WEIGHTS, CascadeRoIHeads, TimmFPNBackbone
from viprepro.training.library_models import call_builder, from_library

NORM_LAYERS = {"frozen_bn": misc_nn_ops.FrozenBatchNorm2d, "bn": nn.BatchNorm2d}
ROI_SIZE = 7


def _faster_rcnn(
    backbone: nn.Module,
    num_classes: int,
    *,
    anchor_sizes=None,
    aspect_ratios=(0.5, 1.0, 2.0),
    representation_size: int | None = None,
    **kwargs,
) -> FasterRCNN:
    """FasterRCNN with optional anchor sizes (one list per pyramid level) and box-head width."""
    if anchor_sizes is not None:
        sizes = tuple(tuple(level) for level in anchor_sizes)
        kwargs["rpn_anchor_generator"] = AnchorGenerator(sizes, (tuple(aspect_ratios),) * len(sizes))
    if representation_size is not None:
        kwargs["box_head"] = TwoMLPHead(backbone.out_channels * ROI_SIZE**2, representation_size)
        kwargs["box_predictor"] = FastRCNNPredictor(representation_size, num_classes)
        return FasterRCNN(backbone, **kwargs)
    return FasterRCNN(backbone, num_classes=num_classes, **kwargs)


def fasterrcnn_resnet_fpn(num_classes: int, *, backbone: str, norm_layer: str = "bn", trainable_layers: int = 5, **kwargs) -> FasterRCNN:
    body = resnet_fpn_backbone(backbone_name=backbone, weights=None, norm_layer=NORM_LAYERS[norm_layer], trainable_layers=trainable_layers)
    return _faster_rcnn(body, num_classes, **kwargs)


def _stage(channels: int, out: int, blocks: int) -> nn.Sequential:
    down = nn.Sequential(nn.Conv2d(channels, out, 1, stride=2, bias=False), nn.BatchNorm2d(out))
    layers = [BasicBlock(channels, out, stride=2, downsample=down)]
    layers += [BasicBlock(out, out) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def small_resnet(widths=(16, 32, 64, 128), blocks: int = 2) -> nn.Module:
    """Stem at stride 2, then four stages at strides 4, 8, 16 and 32 (named as in ResNet)."""
    stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
    layers = OrderedDict(stem=stem)
    channels = widths[0]
    for index, width in enumerate(widths, start=1):
        layers[f"layer{index}"] = _stage(channels, width, blocks)
        channels = width
    body = nn.Sequential(layers)
    for module in body.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return body


def small_fpn_backbone(widths=(16, 32, 64, 128), blocks: int = 2, fpn_channels: int = 64) -> BackboneWithFPN:
    """`small_resnet` under an FPN with a max-pooled extra level (the CPU detectors' backbone)."""
    widths = tuple(widths)
    return BackboneWithFPN(
        small_resnet(widths, blocks),
        return_layers={f"layer{i + 1}": str(i) for i in range(len(widths))},
        in_channels_list=list(widths),
        out_channels=fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )


def fasterrcnn_small_fpn(num_classes: int, *, widths=(16, 32, 64, 128), blocks: int = 2, fpn_channels: int = 64, **kwargs) -> FasterRCNN:
    return _faster_rcnn(small_fpn_backbone(widths, blocks, fpn_channels), num_classes, **kwargs)


def cascadercnn_fpn(
    num_classes: int,
    *,
    backbone: str = "resnet50",
    norm_layer: str = "bn",
    trainable_layers: int = 5,
    fpn_channels: int = 256,
    backbone_kwargs: dict | None = None,
    stage_ious=STAGE_IOUS,
    stage_weights=STAGE_WEIGHTS,
    representation_size: int = 1024,
    **kwargs,
) -> FasterRCNN:
    """Cascade R-CNN (three box stages, see cascade.py) on a torchvision ResNet or a timm
    backbone (`timm/<name>`, e.g. `timm/legacy_senet154`), with an FPN; the RPN and the
    budgets are Faster R-CNN's (kwargs)."""
    if not 1 <= len(stage_ious) <= len(STAGE_REG_WEIGHTS) or len(stage_weights) != len(stage_ious):
        raise UserError(f"cascadercnn_fpn has 1 to {len(STAGE_REG_WEIGHTS)} stages, one IoU and one loss weight each", where="model.kwargs")
    if backbone.startswith("timm/"):
        body = TimmFPNBackbone(backbone.partition("/")[2], fpn_channels, **(backbone_kwargs or {}))
    else:
        body = resnet_fpn_backbone(
            backbone_name=backbone,
            weights=None,
            norm_layer=NORM_LAYERS[norm_layer],
            trainable_layers=trainable_layers,
            **(backbone_kwargs or {}),
        )
    model = _faster_rcnn(body, num_classes, representation_size=representation_size, **kwargs)
    model.roi_heads = CascadeRoIHeads(
        model.roi_heads,
        num_classes,
        body.out_channels,
        representation_size,
        ious=tuple(stage_ious),
        weights=tuple(stage_weights),
        reg_weights=STAGE_REG_WEIGHTS[: len(stage_ious)],
    )
    return model


REGISTRY = {
    "cascadercnn_fpn": cascadercnn_fpn,
    "fasterrcnn_resnet18_fpn": partial(fasterrcnn_resnet_fpn, backbone="resnet18"),
    "fasterrcnn_resnet50_fpn": partial(fasterrcnn_resnet_fpn, backbone="resnet50"),
    "fasterrcnn_small_fpn": fasterrcnn_small_fpn,
}


def accepted_kwargs(name: str) -> set[str]:
    """What a spec may set: the builder's, `_faster_rcnn`'s and FasterRCNN's plain arguments."""
    names = set()
    for function in (REGISTRY[name], _faster_rcnn, FasterRCNN.__init__):
        names |= {p.name for p in inspect.signature(function).parameters.values() if p.kind == p.KEYWORD_ONLY or p.default is not p.empty}
    modules = {"backbone", "rpn_anchor_generator", "rpn_head", "box_roi_pool", "box_head", "box_predictor"}
    if name == "cascadercnn_fpn":  # its stages set their own IoU thresholds and box normalisation
        return (names - modules - {"num_classes", "box_fg_iou_thresh", "box_bg_iou_thresh", "bbox_reg_weights"}) | {"backbone"}
    return names - modules - {"num_classes"}


def _library_kwargs(name: str) -> set[str]:
    """What a `torchvision/<detector>` accepts: its builder's and its model class's arguments."""
    import torchvision
    from torchvision.models import detection

    bare = name.partition("/")[2]
    classes = {
        "fasterrcnn": detection.FasterRCNN,
        "maskrcnn": detection.MaskRCNN,
        "keypointrcnn": detection.KeypointRCNN,
        "retinanet": detection.RetinaNet,
        "fcos": detection.FCOS,
        "ssdlite": detection.ssd.SSD,
        "ssd": detection.ssd.SSD,
    }
    model_class = next(cls for prefix, cls in classes.items() if bare.startswith(prefix))
    names = set()
    for function in (torchvision.models.get_model_builder(bare), model_class.__init__):
        names |= {p.name for p in inspect.signature(function).parameters.values() if p.kind == p.KEYWORD_ONLY or p.default is not p.empty}
    return names - {"weights", "weights_backbone", "num_classes", "progress"}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    if name.startswith("torchvision/"):
        unknown = sorted(set(kwargs) - _library_kwargs(name))
        if unknown:
            raise UserError(f"{name} takes no argument(s) {', '.join(unknown)}", where="model.kwargs")
        return call_builder(from_library(name), name, num_classes=num_classes, **kwargs)
    if name not in REGISTRY:
        raise UserError(
            f"unknown detection model '{name}' (known: {', '.join(sorted(REGISTRY))}, torchvision/<detection model>)", where="model.name"
        )
    # FasterRCNN swallows unknown keyword arguments silently: a misspelt budget would go unnoticed.
    unknown = sorted(set(kwargs) - accepted_kwargs(name))
    if unknown:
        raise UserError(f"{name} takes no argument(s) {', '.join(unknown)}", where="model.kwargs")
    return REGISTRY[name](num_classes, **kwargs)
