"""k-NN and linear probes: ~1 on separable features, ~chance on random labels, deterministic; feature extraction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_resnet
from torch.utils.data import DataLoader, TensorDataset

from viprepro.training.selfsup import backbone_of
from viprepro.training.selfsup.probe import extract_features, knn_accuracy, linear_probe_accuracy

CLASSES = 4


def _clusters(per_class: int, seed: int, spread: float = 0.3):
    """Gaussian clusters around one random centre per class (the same centres for every seed), L2-normalised."""
    centres = torch.randn(CLASSES, 16, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(CLASSES).repeat_interleave(per_class)
    features = centres[labels] + spread * torch.randn(len(labels), 16, generator=generator)
    return F.normalize(features, dim=1), labels


def _random_labels(labels: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randint(0, CLASSES, labels.shape, generator=torch.Generator().manual_seed(seed))


def test_knn_is_right_on_separable_features_and_at_chance_on_random_labels():
    bank, bank_labels = _clusters(50, seed=1)
    query, query_labels = _clusters(100, seed=2)
    assert knn_accuracy(bank, bank_labels, query, query_labels, classes=CLASSES) >= 0.98
    shuffled = knn_accuracy(bank, _random_labels(bank_labels, 3), query, _random_labels(query_labels, 4), classes=CLASSES)
    assert abs(shuffled - 1 / CLASSES) < 0.1


def test_knn_weights_votes_by_similarity():
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]]), dim=1)
    query = F.normalize(torch.tensor([[1.0, 0.05]]), dim=1)
    # Two neighbours of class 1 far away outvote one of class 0 without weights; with them class 0 wins.
    labels = torch.tensor([0, 1, 1])
    assert knn_accuracy(bank, labels, query, torch.tensor([0]), k=3, temperature=0.07, classes=2) == 1.0
    assert knn_accuracy(bank, labels, query, torch.tensor([1]), k=3, temperature=100.0, classes=2) == 1.0


def test_linear_probe_is_right_on_separable_features_and_at_chance_on_random_labels():
    train, train_labels = _clusters(50, seed=1)
    val, val_labels = _clusters(100, seed=2)
    generator = torch.Generator().manual_seed(0)
    assert linear_probe_accuracy(train, train_labels, val, val_labels, classes=CLASSES, epochs=30, generator=generator) >= 0.98
    random_train, random_val = _random_labels(train_labels, 3), _random_labels(val_labels, 4)
    shuffled = linear_probe_accuracy(train, random_train, val, random_val, classes=CLASSES, epochs=30, generator=generator)
    assert abs(shuffled - 1 / CLASSES) < 0.1


def test_linear_probe_is_deterministic_under_a_seeded_generator():
    train, train_labels = _clusters(40, seed=1, spread=1.0)
    val, val_labels = _clusters(40, seed=2, spread=1.0)
    runs = [
        linear_probe_accuracy(
            train, train_labels, val, val_labels, classes=CLASSES, epochs=5, batch_size=16, generator=torch.Generator().manual_seed(7)
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_extract_features_are_normalised_in_loader_order_and_keep_the_mode():
    torch.manual_seed(0)
    backbone, dim = backbone_of(tiny_resnet())
    images, labels = torch.randn(6, 3, 16, 16), torch.tensor([0, 1, 2, 3, 0, 1])
    backbone.train()
    features, got = extract_features(backbone, DataLoader(TensorDataset(images, labels), batch_size=4), torch.device("cpu"))
    assert features.shape == (6, dim) and torch.equal(got, labels)
    assert torch.allclose(features.norm(dim=1), torch.ones(6))
    assert backbone.training
    backbone.eval()
    with torch.no_grad():
        assert torch.allclose(features[5], F.normalize(backbone(images[5:]), dim=1)[0], atol=1e-6)


def test_probes_refuse_empty_inputs():
    with pytest.raises(ValueError):
        knn_accuracy(torch.zeros(2, 3), torch.zeros(2).long(), torch.zeros(0, 3), torch.zeros(0).long(), classes=2)
    with pytest.raises(ValueError):
        linear_probe_accuracy(torch.zeros(0, 3), torch.zeros(0).long(), torch.zeros(1, 3), torch.zeros(1).long(), classes=2)


def test_probe_accuracies_reads_out_both_probes_from_loaders():
    from viprepro.training.selfsup import probe_accuracies

    torch.manual_seed(0)
    backbone, _ = backbone_of(tiny_resnet())
    images, labels = torch.randn(8, 3, 16, 16), torch.tensor([0, 1, 2, 3] * 2)
    loader = DataLoader(TensorDataset(images, labels), batch_size=4)
    figures = probe_accuracies(backbone, loader, loader, torch.device("cpu"), classes=CLASSES, epochs=50)
    assert set(figures) == {"knn_top1", "linear_top1"}
    assert figures["linear_top1"] == 1.0  # 8 points in 16 dimensions: the train set itself is separable
