"""backbone_of and load_backbone_into: the supported model families, refusals, layer selection."""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers import tiny_resnet
from torch import nn

from viprepro.tasks.classification.models import build
from viprepro.training.selfsup import backbone_of, load_backbone_into


@pytest.mark.parametrize(
    "make,features",
    [
        (lambda: tiny_resnet(width=4), 16),
        (lambda: build("resnet18", 5), 512),
        (lambda: torchvision.models.mobilenet_v3_small(weights=None, num_classes=5), 1024),
        (lambda: torchvision.models.VisionTransformer(32, 16, num_layers=1, num_heads=2, hidden_dim=24, mlp_dim=8, num_classes=5), 24),
        (lambda: build("timm/resnet18", 5), 512),
    ],
)
def test_backbone_of_gives_features_of_the_stated_size(make, features):
    torch.manual_seed(0)
    model = make().eval()
    backbone, dim = backbone_of(model)
    assert dim == features
    with torch.no_grad():
        out = backbone(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, features)


def test_backbone_of_refuses_a_model_it_cannot_split():
    with pytest.raises(ValueError, match="cannot split Sequential"):
        backbone_of(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()))
    with pytest.raises(ValueError, match="aux_logits"):
        backbone_of(torchvision.models.googlenet(weights=None, num_classes=5, aux_logits=True, init_weights=False))


def _pretrained_backbone():
    torch.manual_seed(1)
    backbone, _ = backbone_of(tiny_resnet())
    with torch.no_grad():
        for p in backbone.parameters():
            p.add_(1.0)
    return backbone.state_dict()


def test_load_backbone_into_copies_the_backbone_and_keeps_the_fresh_classifier():
    state = _pretrained_backbone()
    torch.manual_seed(2)
    model = tiny_resnet()
    fresh_head = model.head[2].weight.clone()
    loaded = load_backbone_into(model, state)
    assert set(loaded) == set(state) and not any(k.startswith("head.") for k in loaded)
    for key in state:
        assert torch.equal(model.state_dict()[key], state[key])
    assert torch.equal(model.head[2].weight, fresh_head)


def test_load_backbone_into_selects_layers_by_prefix():
    state = _pretrained_backbone()
    torch.manual_seed(2)
    model = tiny_resnet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded = load_backbone_into(model, state, layers=["stem"])
    assert loaded and all(k.startswith("stem.") for k in loaded)
    assert torch.equal(model.state_dict()["stem.0.weight"], state["stem.0.weight"])
    assert torch.equal(model.state_dict()["stages.0.conv1.weight"], before["stages.0.conv1.weight"])


def test_load_backbone_into_refuses_what_does_not_fit():
    state = _pretrained_backbone()
    with pytest.raises(ValueError, match="selects no backbone weight"):
        load_backbone_into(tiny_resnet(), state, layers=["layer9"])
    with pytest.raises(ValueError, match="has shape"):
        load_backbone_into(tiny_resnet(width=8), state)
    incomplete = {k: v for k, v in state.items() if not k.startswith("stages.1")}
    with pytest.raises(ValueError, match="is missing"):
        load_backbone_into(tiny_resnet(), incomplete)
    with pytest.raises(ValueError, match="not a backbone weight"):
        load_backbone_into(tiny_resnet(), {**state, "head.2.weight": torch.zeros(5, 16)})
    model = tiny_resnet(width=8)
    loaded = load_backbone_into(model, state, strict=False)  # not strict: only what fits (the shape-free counters)
    assert loaded and all(k.endswith("num_batches_tracked") for k in loaded)
