"""Cascade R-CNN (Cai & Vasconcelos, "Cascade R-CNN: Delving into High Quality Object
Detection", CVPR 2018), written on torchvision's Faster R-CNN parts.

The first 2020 detection entry used it (mmdetection's CascadeRCNN); neither torchvision nor
timm has it. Three box stages follow the RPN. Stage t samples its training RoIs with its own
IoU threshold (0.5, 0.6, 0.7), regresses class-agnostic box deltas with its own normalisation
(10,10,5,5 / 20,20,10,10 / 30,30,15,15) and passes the refined boxes to the next stage; the
stage losses are weighted 1, 0.5, 0.25. At inference the class scores are the mean of the
three stages' softmax scores and the boxes are the last stage's, then per-class NMS, as in
the paper and mmdetection. Ground-truth boxes join the RoIs of every stage (torchvision's
`add_gt_proposals`), the losses are torchvision's Fast R-CNN losses.

Backbones: torchvision ResNets (`resnet_fpn_backbone`, as the other detectors here) or any
timm model that offers `features_only` (e.g. `timm/legacy_senet154`, the SENet-154 of the
entry's second model), under the same FPN.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import boxes as box_ops
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

STAGE_IOUS = (0.5, 0.6, 0.7)
STAGE_WEIGHTS = (1.0, 0.5, 0.25)
STAGE_REG_WEIGHTS = ((10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0), (30.0, 30.0, 15.0, 15.0))


class TimmFPNBackbone(nn.Module):
    """A timm model's feature maps (strides 4 to 32) under torchvision's FPN + max-pool level."""

    def __init__(self, name: str, out_channels: int = 256, **kwargs):
        super().__init__()
        from viprepro.training.library_models import import_timm

        timm = import_timm()
        self.body = timm.create_model(name, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4), **kwargs)
        self.fpn = FeaturePyramidNetwork(self.body.feature_info.channels(), out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        return self.fpn(OrderedDict((str(i), feature) for i, feature in enumerate(self.body(x))))


class AgnosticPredictor(nn.Module):
    """Class scores and one class-agnostic box regression per RoI (Cascade R-CNN's heads)."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)


class CascadeRoIHeads(nn.Module):
    """Drop-in for torchvision's RoIHeads inside a GeneralizedRCNN: (detections, losses)."""

    def __init__(
        self,
        template: RoIHeads,
        num_classes: int,
        in_channels: int,
        representation_size: int,
        ious=STAGE_IOUS,
        weights=STAGE_WEIGHTS,
        reg_weights=STAGE_REG_WEIGHTS,
    ):
        super().__init__()
        if not len(ious) == len(weights) == len(reg_weights):
            raise ValueError("one IoU threshold, loss weight and regression weight per stage")
        resolution = template.box_roi_pool.output_size[0]
        self.box_roi_pool = template.box_roi_pool
        self.stage_weights = tuple(weights)
        self.stages = nn.ModuleList(
            RoIHeads(
                box_roi_pool=template.box_roi_pool,
                box_head=TwoMLPHead(in_channels * resolution**2, representation_size),
                box_predictor=AgnosticPredictor(representation_size, num_classes),
                fg_iou_thresh=iou,
                bg_iou_thresh=iou,
                batch_size_per_image=template.fg_bg_sampler.batch_size_per_image,
                positive_fraction=template.fg_bg_sampler.positive_fraction,
                bbox_reg_weights=reg,
                score_thresh=template.score_thresh,
                nms_thresh=template.nms_thresh,
                detections_per_img=template.detections_per_img,
            )
            for iou, reg in zip(ious, reg_weights)
        )

    # what detection.predict reads to fuse an ensemble, as from torchvision's RoIHeads
    @property
    def nms_thresh(self) -> float:
        return self.stages[-1].nms_thresh

    @property
    def detections_per_img(self) -> int:
        return self.stages[-1].detections_per_img

    @property
    def score_thresh(self) -> float:
        return self.stages[-1].score_thresh

    def _run(self, stage: RoIHeads, features, proposals, image_shapes):
        box_features = stage.box_head(self.box_roi_pool(features, proposals, image_shapes))
        return stage.box_predictor(box_features)

    @staticmethod
    def _refine(stage: RoIHeads, deltas, proposals, image_shapes) -> list[torch.Tensor]:
        boxes = stage.box_coder.decode(deltas.detach(), proposals).reshape(-1, 4)
        return [box_ops.clip_boxes_to_image(b, shape) for b, shape in zip(boxes.split([len(p) for p in proposals]), image_shapes)]

    def forward(self, features, proposals, image_shapes, targets=None):
        if self.training:
            losses = {}
            for index, (stage, weight) in enumerate(zip(self.stages, self.stage_weights)):
                proposals, _, labels, regression_targets = stage.select_training_samples(proposals, targets)
                class_logits, deltas = self._run(stage, features, proposals, image_shapes)
                labels, regression_targets = torch.cat(labels), torch.cat(regression_targets)
                positive = torch.where(labels > 0)[0]
                box_loss = F.smooth_l1_loss(deltas[positive], regression_targets[positive], beta=1 / 9, reduction="sum") / labels.numel()
                losses[f"loss_classifier_stage{index + 1}"] = weight * F.cross_entropy(class_logits, labels)
                losses[f"loss_box_reg_stage{index + 1}"] = weight * box_loss
                proposals = self._refine(stage, deltas, proposals, image_shapes)
            return [], losses
        probabilities = 0
        for index, stage in enumerate(self.stages):
            class_logits, deltas = self._run(stage, features, proposals, image_shapes)
            probabilities = probabilities + F.softmax(class_logits, dim=-1)
            if index + 1 < len(self.stages):
                proposals = self._refine(stage, deltas, proposals, image_shapes)
        last = self.stages[-1]
        mean = probabilities / len(self.stages)
        # torchvision's post-processing (score threshold, small boxes, per-class NMS, top-k) takes
        # logits and per-class boxes: log of the mean probabilities softmaxes back to them, and
        # the agnostic box serves every class.
        boxes, scores, labels = last.postprocess_detections(
            mean.clamp_min(1e-12).log(), deltas.repeat(1, mean.shape[1]), proposals, image_shapes
        )
        return [{"boxes": b, "labels": c, "scores": s} for b, s, c in zip(boxes, scores, labels)], {}
