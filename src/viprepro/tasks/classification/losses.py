"""Training criteria the top 2020 entries used; all accept hard or soft (mixed) targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_probabilities(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    return target if target.is_floating_point() else F.one_hot(target, num_classes).float()


def cross_entropy(logits, target, *, label_smoothing: float = 0.0, **_):
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing)


def focal(logits, target, *, gamma: float = 2.0, **_):
    """Focal loss (Lin et al., 2017): cross-entropy down-weighted by (1 - p)^gamma."""
    log_p = F.log_softmax(logits, dim=1)
    weight = (1 - log_p.exp()) ** gamma
    return -(_as_probabilities(target, logits.shape[1]) * weight * log_p).sum(dim=1).mean()


def cosine(logits, target, **_):
    """Cosine loss (Barz & Denzler, WACV 2020): 1 - cos(logits, one-hot), good on small data."""
    target = _as_probabilities(target, logits.shape[1])
    return (1 - F.cosine_similarity(logits, target, dim=1)).mean()


LOSSES = {"cross_entropy": cross_entropy, "focal": focal, "cosine": cosine}


def criterion(spec: dict):
    fn = LOSSES[spec.get("name", "cross_entropy")]
    params = {k: v for k, v in spec.items() if k != "name"}
    return lambda logits, target: fn(logits, target, **params)
