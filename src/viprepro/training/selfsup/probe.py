"""Does a pretext stage's backbone carry class information? k-NN and linear probes on frozen features.

Both are the standard read-outs of self-supervised learning and need no fine-tuning: the
weighted k-NN classifier of Wu et al. 2018 (InstDisc; what MoCo and DINO monitor) and a
logistic regression on the frozen features (the "linear evaluation protocol"). The probe job
fits them on the train split's labels and reports on val; the pretext stage itself never reads
a label. Both are deterministic: k-NN has no randomness, and the linear probe starts from zero
weights and shuffles from the `generator` it is given.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def extract_features(backbone: nn.Module, loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2-normalised features, labels) of every (images, labels) batch, on the CPU in loader order.

    The backbone runs in eval mode (batch-norm running statistics, no dropout) and is put back in
    the mode it was in."""
    was_training = backbone.training
    backbone.eval()
    features, labels = [], []
    try:
        for images, targets in loader:
            out = backbone(images.to(device, non_blocking=True))
            features.append(F.normalize(out.flatten(1).float(), dim=1).cpu())
            labels.append(torch.as_tensor(targets).cpu())
    finally:
        backbone.train(was_training)
    return torch.cat(features), torch.cat(labels).long()


@torch.no_grad()
def knn_accuracy(
    bank_feats: torch.Tensor,
    bank_labels: torch.Tensor,
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    classes: int,
    chunk: int = 1024,
) -> float:
    """Top-1 accuracy of the weighted k-NN classifier (Wu et al. 2018).

    Each query's k most cosine-similar bank features vote for their label with weight
    exp(similarity / temperature); the class with the largest sum wins. Features are expected
    L2-normalised (as `extract_features` gives them); `k` is capped at the bank's size."""
    if len(query_feats) == 0:
        raise ValueError("no query features to classify")
    k = min(k, len(bank_feats))
    correct = 0
    for start in range(0, len(query_feats), chunk):
        similarity = query_feats[start : start + chunk] @ bank_feats.T
        top, index = similarity.topk(k, dim=1)
        votes = torch.zeros(len(similarity), classes, dtype=top.dtype)
        votes.scatter_add_(1, bank_labels[index], (top / temperature).exp())
        correct += int((votes.argmax(dim=1) == query_labels[start : start + chunk]).sum())
    return correct / len(query_feats)


def linear_probe_accuracy(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    val_feats: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    classes: int,
    epochs: int = 100,
    lr: float = 0.1,
    weight_decay: float = 0.0,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
) -> float:
    """Top-1 val accuracy of a logistic regression fitted on frozen train features.

    The features are standardised with the train split's mean and deviation (so one learning
    rate fits every backbone's feature scale), the weights start at zero, and SGD with Nesterov
    momentum 0.9 and a cosine-decayed learning rate runs `epochs` passes of mini-batches in an
    order drawn from `generator` (seeded: the same call gives the same number); a train split
    no larger than `batch_size` is one full batch per step."""
    if len(train_feats) == 0 or len(val_feats) == 0:
        raise ValueError("the linear probe needs train and val features")
    train_feats, val_feats = train_feats.double(), val_feats.double()
    mean, std = train_feats.mean(dim=0), train_feats.std(dim=0, unbiased=False).clamp_min(1e-8)
    x, x_val = (train_feats - mean) / std, (val_feats - mean) / std
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    layer = nn.Linear(x.shape[1], classes, dtype=torch.float64)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(x), batch_size):
                chosen = order[start : start + batch_size]
                loss = F.cross_entropy(layer(x[chosen]), train_labels[chosen])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    with torch.no_grad():
        return float((layer(x_val).argmax(dim=1) == val_labels).double().mean())


def probe_accuracies(
    backbone: nn.Module,
    train_loader,
    val_loader,
    device: torch.device,
    *,
    classes: int,
    generator: torch.Generator | None = None,
    k: int = 20,
    temperature: float = 0.07,
    epochs: int = 100,
) -> dict[str, float]:
    """Both read-outs of one backbone: `knn_top1` and `linear_top1` on val, fitted on train.

    The loaders yield (images, labels) with the evaluation transform; what a probe job logs per
    saved epoch (epoch 0: the random initialisation)."""
    train, train_labels = extract_features(backbone, train_loader, device)
    val, val_labels = extract_features(backbone, val_loader, device)
    return {
        "knn_top1": knn_accuracy(train, train_labels, val, val_labels, k=k, temperature=temperature, classes=classes),
        "linear_top1": linear_probe_accuracy(train, train_labels, val, val_labels, classes=classes, epochs=epochs, generator=generator),
    }
