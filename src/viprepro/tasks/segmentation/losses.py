"""Segmentation criteria; void pixels (train id 19) never count.

- cross_entropy, optionally class-weighted (class-weighted CE: EfficientSeg, VIPriors 2020);
- ohem_cross_entropy: online hard example mining as in the usual Cityscapes code bases
  (pixels whose true-class probability is below a threshold, at least `min_kept` of them);
- dice: soft multi-class Dice (Milletari et al. 2016) over the classes present;
- cross_entropy_dice: their sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from viprepro.tasks.segmentation.labels import NUM_TRAIN_CLASSES, VOID_TRAIN_ID


def _weights(spec: dict, logits: torch.Tensor) -> torch.Tensor | None:
    weights = spec.get("class_weights")
    if weights is None:
        return None
    return torch.tensor(list(weights) + [0.0] * (logits.shape[1] - len(weights)), dtype=logits.dtype, device=logits.device)


def cross_entropy(logits, masks, spec):
    return F.cross_entropy(logits, masks, weight=_weights(spec, logits), ignore_index=VOID_TRAIN_ID)


def ohem_cross_entropy(logits, masks, spec):
    pixel_loss = F.cross_entropy(logits, masks, weight=_weights(spec, logits), ignore_index=VOID_TRAIN_ID, reduction="none").flatten()
    valid = masks.flatten() != VOID_TRAIN_ID
    if not valid.any():
        return pixel_loss.sum() * 0
    with torch.no_grad():
        probability = F.softmax(logits, dim=1).gather(1, masks.clamp(max=logits.shape[1] - 1).unsqueeze(1)).flatten()
        probability = torch.where(valid, probability, torch.ones_like(probability))
        kept = min(spec.get("ohem_min_kept", 100000), int(valid.sum()))
        threshold = max(spec.get("ohem_threshold", 0.7), float(probability.kthvalue(kept).values))
        hard = valid & (probability <= threshold)
    return pixel_loss[hard].mean()


def dice(logits, masks, spec, eps: float = 1.0):
    valid = (masks != VOID_TRAIN_ID).unsqueeze(1)
    probabilities = F.softmax(logits, dim=1)[:, :NUM_TRAIN_CLASSES] * valid
    one_hot = F.one_hot(masks.clamp(max=NUM_TRAIN_CLASSES), NUM_TRAIN_CLASSES + 1).permute(0, 3, 1, 2)[:, :NUM_TRAIN_CLASSES]
    one_hot = one_hot.to(probabilities.dtype) * valid
    intersection = (probabilities * one_hot).sum(dim=(0, 2, 3))
    total = probabilities.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    present = one_hot.sum(dim=(0, 2, 3)) > 0
    score = (2 * intersection + eps) / (total + eps)
    return 1 - score[present].mean() if present.any() else probabilities.sum() * 0


def cross_entropy_dice(logits, masks, spec):
    return cross_entropy(logits, masks, spec) + spec.get("dice_weight", 1.0) * dice(logits, masks, spec)


LOSSES = {"cross_entropy": cross_entropy, "ohem_cross_entropy": ohem_cross_entropy, "dice": dice, "cross_entropy_dice": cross_entropy_dice}


def criterion(spec: dict):
    fn = LOSSES[spec.get("name", "cross_entropy")]
    return lambda logits, masks: fn(logits, masks, spec)
