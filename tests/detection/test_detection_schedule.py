"""The specs' schedules equal what torchvision's detection references did, iteration by iteration."""

from __future__ import annotations

import pytest
import torch

from viprepro.specs.load import load_spec
from viprepro.training.optim import build_optimizer, build_scheduler


def _reference_lrs(base_lr: float, milestones: list[int], epochs: int, iterations: int) -> list[float]:
    """references/detection (2020): MultiStepLR per epoch, plus in epoch 0 a LambdaLR warm-up
    over min(1000, iterations - 1) iterations from 1/1000, stepped after every iteration."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr, momentum=0.9)
    main = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    lrs = []
    for epoch in range(epochs):
        warmup = None
        if epoch == 0:
            warmup_iters = min(1000, iterations - 1)

            def factor(x):
                if x >= warmup_iters:
                    return 1
                alpha = float(x) / warmup_iters
                return 0.001 * (1 - alpha) + alpha

            warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        for _ in range(iterations):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if warmup is not None:
                warmup.step()
        main.step()
    return lrs


def _engine_lrs(recipe: dict, iterations: int) -> list[float]:
    optimizer = build_optimizer([torch.zeros(1, requires_grad=True)], recipe["optimizer"])
    scheduler = build_scheduler(optimizer, recipe["lr_schedule"], recipe["epochs"], iterations)
    lrs = []
    for _ in range(recipe["epochs"] * iterations):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_baseline_schedule_matches_the_references_at_the_challenge_size(repo):
    recipe = load_spec(repo / "config/submissions/detection_frcnn_r18_baseline.yaml")["recipe"]
    iterations = -(-5873 // recipe["batch_size"])  # 368 iterations over the challenge's train split
    expected = _reference_lrs(0.02, [16, 22], 26, iterations)
    assert _engine_lrs(recipe, iterations) == pytest.approx(expected, rel=1e-12)
    assert expected[0] == pytest.approx(2e-5) and expected[iterations] == pytest.approx(0.02)
    assert expected[16 * iterations] == pytest.approx(0.002) and expected[-1] == pytest.approx(0.0002)
