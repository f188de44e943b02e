"""Distillation: Hinton's KD against the KL definition; feature distillation (OFD, FitNet) on residual networks."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from helpers import tiny_resnet
from torch import nn

from viprepro.training.selfsup import FeatureDistiller, kd_loss
from viprepro.training.selfsup.distill import ofd_distance, ofd_margin, residual_blocks, stage_ends


def test_kd_loss_is_the_temperature_scaled_kl_divergence():
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    teacher = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    temperature = 4.0
    p = torch.softmax(teacher / temperature, dim=1)
    q = torch.softmax(student / temperature, dim=1)
    expected = (p * (p.log() - q.log())).sum(dim=1).mean() * temperature**2
    assert float(kd_loss(student, teacher, temperature)) == pytest.approx(float(expected), rel=1e-12)


def test_kd_loss_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.randn(4, 6)
    assert float(kd_loss(logits, logits.clone(), 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(kd_loss(logits, logits.flip(1), 2.0)) > 0.01


def test_kd_loss_sends_no_gradient_to_the_teacher():
    student = torch.randn(2, 3, requires_grad=True)
    teacher = torch.randn(2, 3, requires_grad=True)
    kd_loss(student, teacher, 2.0).backward()
    assert student.grad is not None and teacher.grad is None


def test_kd_loss_refuses_a_non_positive_temperature():
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), 0.0)


# --- feature distillation ------------------------------------------------------------------


IMAGES = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kind", ["ofd", "fitnet"])
def test_feature_loss_is_zero_for_a_student_identical_to_its_teacher(kind):
    torch.manual_seed(0)
    teacher = tiny_resnet()
    distiller = FeatureDistiller(copy.deepcopy(teacher), teacher, kind=kind, connectors="identity").eval()
    logits, loss = distiller(IMAGES)
    assert logits.shape == (4, 5)
    assert loss.item() == 0.0


@pytest.mark.parametrize("kind", ["ofd", "fitnet"])
def test_feature_loss_trains_the_student_and_never_the_teacher(kind):
    torch.manual_seed(0)
    teacher, student = tiny_resnet(width=8), tiny_resnet(width=4)
    distiller = FeatureDistiller(student, teacher, kind=kind)
    logits, loss = distiller(IMAGES)
    assert loss.item() > 0
    (loss + logits.sum()).backward()
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    assert all(p.grad is not None for p in distiller.connectors.parameters())


def test_teacher_batch_norm_statistics_move_only_in_train_mode():
    torch.manual_seed(0)
    for mode, moves in (("eval", False), ("train", True)):
        teacher = tiny_resnet()
        before = teacher.stem[1].running_mean.clone()
        distiller = FeatureDistiller(tiny_resnet(), teacher, teacher_mode=mode).train()
        distiller(IMAGES)
        assert teacher.training is moves
        assert (not torch.equal(before, teacher.stem[1].running_mean)) is moves


def test_resnets_of_other_depths_and_block_types_are_paired_stage_by_stage():
    torch.manual_seed(0)
    student, teacher = torchvision.models.resnet18(weights=None, num_classes=5), torchvision.models.resnet50(weights=None, num_classes=5)
    distiller = FeatureDistiller(student, teacher)
    assert distiller.pairs == [(f"layer{i}.1", f"layer{i}.{[2, 3, 5, 2][i - 1]}") for i in range(1, 5)]
    assert distiller.connectors[3][0].weight.shape == (2048, 512, 1, 1)
    _, loss = distiller(torch.randn(2, 3, 32, 32))
    assert torch.isfinite(loss) and loss.item() > 0
    assert distiller.layer_weights() == [0.125, 0.25, 0.5, 1.0]


def test_timm_resnets_are_supported():
    from viprepro.tasks.classification.models import build

    assert stage_ends(build("timm/resnet18", 5)) == ["layer1.1", "layer2.1", "layer3.1", "layer4.1"]


def test_what_cannot_be_distilled_is_refused():
    with pytest.raises(ValueError, match="has none"):
        FeatureDistiller(tiny_resnet(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()))
    with pytest.raises(ValueError, match="3 stages and the teacher 4"):
        FeatureDistiller(tiny_resnet(), torchvision.models.resnet18(weights=None))
    with pytest.raises(ValueError, match="not a residual block"):
        FeatureDistiller(tiny_resnet(), tiny_resnet(), layers=["stages.9"])
    with pytest.raises(ValueError, match="equal channels"):
        FeatureDistiller(tiny_resnet(width=4), tiny_resnet(width=8), connectors="identity")
    distiller = FeatureDistiller(tiny_resnet(), tiny_resnet(), layers=[("stages.0", "stages.2")])
    with pytest.raises(ValueError, match="same resolution"):
        distiller(IMAGES)


def test_explicit_layers_choose_the_blocks():
    distiller = FeatureDistiller(tiny_resnet(), tiny_resnet(), layers=["stages.1"])
    assert distiller.pairs == [("stages.1", "stages.1")] and len(distiller.connectors) == 1
    assert list(residual_blocks(tiny_resnet())) == ["stages.0", "stages.1", "stages.2"]


def test_ofd_margin_is_the_mean_of_the_negative_part():
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -2.0, 0.1]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, 5.0]))
    margin = ofd_margin(bn).flatten()
    # N(0, 1): E[x | x < 0] = -sqrt(2 / pi); N(1, 4) by quadrature; N(5, 0.01) is almost never negative: -3 sigma.
    assert float(margin[0]) == pytest.approx(-((2 / torch.pi) ** 0.5), rel=1e-6)
    x = torch.linspace(-40, 0, 400001, dtype=torch.float64)
    density = torch.exp(-((x - 1) ** 2) / 8)
    assert float(margin[1]) == pytest.approx(float((x * density).sum() / density.sum()), rel=1e-4)
    assert float(margin[2]) == pytest.approx(-0.3)


def test_ofd_distance_skips_what_the_relu_erases():
    margin = torch.tensor(-1.0)
    teacher = torch.tensor([-3.0, -3.0, -0.5, -0.5, 2.0, 2.0])
    student = torch.tensor([-2.0, -0.5, -0.7, 0.5, 1.0, 3.0])
    # targets max(t, m): -1, -1, -0.5, -0.5, 2, 2; counted: s > target or target > 0.
    expected = 0 + 0.5**2 + 0 + 1.0**2 + 1.0**2 + 1.0**2
    assert float(ofd_distance(student, teacher, margin)) == pytest.approx(expected)
