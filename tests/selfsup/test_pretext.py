"""Pretext modules: InfoNCE/NT-Xent against hand computations, MoCo's state round trip, rotation labels, training smoke."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from helpers import structured_images, tiny_resnet

from viprepro.training.selfsup import backbone_of, build_pretext, pretext_backbone, pretext_views
from viprepro.training.selfsup.pretext import RotationPrediction, info_nce, info_nce_logits, nt_xent


def _unit(rows):
    t = torch.tensor(rows, dtype=torch.float64)
    return t / t.norm(dim=1, keepdim=True)


def test_info_nce_equals_a_hand_computed_case():
    q = _unit([[1.0, 0.0], [0.6, 0.8]])
    k = _unit([[0.8, 0.6], [0.0, 1.0]])
    queue = _unit([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0]]).T
    temperature, margin = 0.5, 0.1
    expected = 0.0
    for i in range(2):
        positive = float(q[i] @ k[i]) - margin
        negatives = [float(q[i] @ queue[:, j]) for j in range(3)]
        logits = [positive / temperature] + [n / temperature for n in negatives]
        expected += -(logits[0] - math.log(sum(math.exp(x) for x in logits)))
    expected /= 2
    assert float(info_nce(q, k, queue, temperature, margin)) == pytest.approx(expected, rel=1e-12)


def test_margin_changes_only_the_positive_logit():
    generator = torch.Generator().manual_seed(0)
    q, k = (torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=1) for _ in range(2))
    queue = torch.nn.functional.normalize(torch.randn(8, 6, generator=generator), dim=0)
    plain = info_nce_logits(q, k, queue, 0.2, 0.0)
    margined = info_nce_logits(q, k, queue, 0.2, 0.4)
    assert torch.equal(plain[:, 1:], margined[:, 1:])
    assert torch.allclose(plain[:, 0] - margined[:, 0], torch.full((4,), 0.4 / 0.2))
    assert info_nce(q, k, queue, 0.2, 0.4) > info_nce(q, k, queue, 0.2, 0.0)


def test_nt_xent_equals_a_hand_computed_case():
    generator = torch.Generator().manual_seed(3)
    z = torch.randn(6, 4, generator=generator, dtype=torch.float64)  # 3 samples, two views each
    temperature = 0.5
    unit = z / z.norm(dim=1, keepdim=True)
    expected = 0.0
    for a in range(6):
        positive = (a + 3) % 6
        similarities = {j: float(unit[a] @ unit[j]) / temperature for j in range(6) if j != a}
        expected += -(similarities[positive] - math.log(sum(math.exp(s) for s in similarities.values())))
    expected /= 6
    assert float(nt_xent(z, temperature)) == pytest.approx(expected, rel=1e-12)


def _moco(**settings):
    torch.manual_seed(0)
    backbone, features = backbone_of(tiny_resnet())
    return build_pretext({"name": "moco_v2", "dim": 8, "queue": 12, "momentum": 0.9, **settings}, backbone, features)


def _batches(count: int, batch: int = 4, size: int = 16):
    images = structured_images(count * batch, size)
    maker = pretext_views({"name": "moco_v2"}, size)
    torch.manual_seed(1)
    views = [maker(image) for image in images]
    return [[torch.stack([v[i] for v in views[s * batch : (s + 1) * batch]]) for i in range(2)] for s in range(count)]


def _steps(module, optimizer, batches, first_step):
    losses = []
    for step, views in enumerate(batches, start=first_step):
        torch.manual_seed(100 + step)  # the engine reseeds torch at every epoch; here at every step
        loss = module(views)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("groups", [1, 2])
def test_moco_resumes_exactly_from_its_state_dict(groups):
    batches = _batches(5)
    whole = _moco(shuffle_groups=groups)
    optimizer = torch.optim.SGD([p for p in whole.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    uninterrupted = _steps(whole, optimizer, batches, 0)

    first = _moco(shuffle_groups=groups)
    optimizer = torch.optim.SGD([p for p in first.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    before = _steps(first, optimizer, batches[:2], 0)
    state, optimizer_state = copy.deepcopy(first.state_dict()), copy.deepcopy(optimizer.state_dict())
    assert int(state["queue_ptr"]) == 8 and "key_backbone.stem.0.weight" in state
    torch.manual_seed(123)  # another initialisation, overwritten by the state
    resumed = _moco(shuffle_groups=groups)
    resumed.load_state_dict(state)
    optimizer = torch.optim.SGD([p for p in resumed.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    optimizer.load_state_dict(optimizer_state)
    after = _steps(resumed, optimizer, batches[2:], 2)
    assert before + after == uninterrupted
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_moco_queue_wraps_around_and_holds_the_keys():
    moco = _moco()
    keys = torch.nn.functional.normalize(torch.randn(5, 8), dim=1)
    moco.queue_ptr[0] = 10
    moco.enqueue(keys)
    assert int(moco.queue_ptr) == 3
    assert torch.equal(moco.queue[:, [10, 11, 0, 1, 2]], keys.T)


def test_moco_key_encoder_starts_as_a_copy_and_follows_by_momentum():
    moco = _moco()
    assert all(not p.requires_grad for p in moco.key_backbone.parameters())
    for q, k in zip(moco.backbone.parameters(), moco.key_backbone.parameters()):
        assert torch.equal(q, k)
    with torch.no_grad():
        for p in moco.backbone.parameters():
            p.add_(1.0)
    old = [k.clone() for k in moco.key_backbone.parameters()]
    moco.momentum_update()
    for q, k, before in zip(moco.backbone.parameters(), moco.key_backbone.parameters(), old):
        assert torch.allclose(k, 0.9 * before + 0.1 * q)


def test_moco_in_eval_mode_changes_no_state():
    moco = _moco().eval()
    state = copy.deepcopy(moco.state_dict())
    with torch.no_grad():
        moco(_batches(1)[0])
    assert all(torch.equal(v, moco.state_dict()[k]) for k, v in state.items())


def test_rotation_labels_follow_the_views():
    assert RotationPrediction.labels(3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_pretext_backbone_is_the_query_encoder():
    moco = _moco()
    assert pretext_backbone(moco) is moco.backbone
    with pytest.raises(ValueError, match="not a pretext module"):
        pretext_backbone(torch.nn.Linear(2, 2))


def test_bad_values_are_refused_by_key():
    backbone, features = backbone_of(tiny_resnet())
    with pytest.raises(ValueError, match="'queue'"):
        build_pretext({"name": "moco_v2", "queue": 0}, backbone, features)
    with pytest.raises(ValueError, match="'momentum'"):
        build_pretext({"name": "moco_v2", "momentum": 1.0}, backbone, features)


def _random_field_images(count: int, size: int) -> torch.Tensor:
    """Smooth random colour fields: distinct images a tiny network can tell apart after light augmentation."""
    generator = torch.Generator().manual_seed(0)
    field = torch.nn.functional.interpolate(torch.rand(count, 3, 4, 4, generator=generator), size=(size, size), mode="bilinear")
    return (field * 255).round().to(torch.uint8)


def _train(method: dict, images: torch.Tensor, steps: int, lr: float, batch: int, warmup: int = 0) -> list[float]:
    """SGD steps on random batches; `warmup` forward passes first replace MoCo's random initial queue by real keys."""
    torch.manual_seed(0)
    backbone, features = backbone_of(tiny_resnet(width=8))
    module = build_pretext(method, backbone, features)
    optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    maker = pretext_views(method, images.shape[-1])
    losses = []
    for step in range(warmup + steps):
        torch.manual_seed(step)
        chosen = images[torch.randperm(len(images))[:batch]]
        views = [maker(image) for image in chosen]
        views = [torch.stack([v[i] for v in views]) for i in range(len(views[0]))]
        if step < warmup:
            with torch.no_grad():
                module(views)
            continue
        loss = module(views)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


LIGHT = {"scale": [0.5, 1.0], "jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0}


@pytest.mark.parametrize(
    "method",
    [
        {"name": "moco_v2", "dim": 16, "queue": 16, "momentum": 0.99, "shuffle_groups": 2, "augment": LIGHT},
        {"name": "simclr", "dim": 16, "augment": LIGHT},
    ],
)
def test_a_few_contrastive_steps_lower_the_loss(method):
    losses = _train(method, _random_field_images(128, 16), steps=30, lr=0.05, batch=16, warmup=1)
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1, losses


def test_a_few_rotation_steps_lower_the_loss():
    losses = _train({"name": "rotation"}, structured_images(16, 16), steps=24, lr=0.05, batch=8)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.2, losses
