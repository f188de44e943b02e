"""Training criteria the top 2020 entries used; all accept hard or soft (mixed) targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_probabilities(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    return target if target.is_floating_point() else F.one_hot(target, num_classes).float()


def cross_entropy(logits, target, *, label_smoothing: float = 0.0, **_):
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing)


def soft_target_cross_entropy(logits, target, **_):
    """timm's SoftTargetCrossEntropy (the loss of its mixup/cutmix recipes); hard labels become one-hot."""
    from timm.loss import SoftTargetCrossEntropy

    return SoftTargetCrossEntropy()(logits, _as_probabilities(target, logits.shape[1]))


def focal(logits, target, *, gamma: float = 2.0, **_):
    """Focal loss (Lin et al., 2017): cross-entropy down-weighted by (1 - p)^gamma."""
    log_p = F.log_softmax(logits, dim=1)
    weight = (1 - log_p.exp()) ** gamma
    return -(_as_probabilities(target, logits.shape[1]) * weight * log_p).sum(dim=1).mean()


def _cosine_term(logits, probabilities):
    """F.cosine_embedding_loss(logits, targets, y=1): 1 - cos, averaged over the batch."""
    return (1 - F.cosine_similarity(logits, probabilities, dim=1)).mean()


def cosine(logits, target, *, xent: float = 0.0, **_):
    """Cosine loss (Barz & Denzler, WACV 2020): 1 - cos(logits, one-hot), good on small data;
    with `xent` > 0, plus xent * cross-entropy of the L2-normalised logits (their "+ CE" variant)."""
    probabilities = _as_probabilities(target, logits.shape[1])
    loss = _cosine_term(logits, probabilities)
    if xent:
        loss = loss + xent * F.cross_entropy(F.normalize(logits, dim=1), probabilities)
    return loss


def focal_cosine(logits, target, *, gamma: float = 2.0, alpha: float = 1.0, xent: float = 0.1, **_):
    """Focal cosine loss (Kim et al., arXiv 2007.07805, 3rd of VIPriors 2020 classification):
    the cosine loss plus xent * alpha * (1 - p_t)^gamma * CE on the L2-normalised logits."""
    probabilities = _as_probabilities(target, logits.shape[1])
    ce = -(probabilities * F.log_softmax(F.normalize(logits, dim=1), dim=1)).sum(dim=1)
    focal_term = alpha * (1 - torch.exp(-ce)) ** gamma * ce
    return _cosine_term(logits, probabilities) + xent * focal_term.mean()


LOSSES = {
    "cross_entropy": cross_entropy,
    "soft_target_cross_entropy": soft_target_cross_entropy,
    "focal": focal,
    "cosine": cosine,
    "focal_cosine": focal_cosine,
}


def criterion(spec: dict):
    fn = LOSSES[spec.get("name", "cross_entropy")]
    params = {k: v for k, v in spec.items() if k != "name" and v is not None}  # None: the loss's own default
    return lambda logits, target: fn(logits, target, **params)
