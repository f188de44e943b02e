"""Distillation losses: Hinton's KD against the KL definition."""

from __future__ import annotations

import pytest
import torch

from viprepro.training.selfsup import kd_loss


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
