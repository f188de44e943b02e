"""Pretext views: shapes, determinism from torch's RNG alone, rotations, and refused keys."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from viprepro.training.selfsup import PRETEXT_METHODS, augment_keys, pretext_keys, pretext_views
from viprepro.training.selfsup.views import resolve

IMAGE = (torch.rand(3, 40, 48, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)


@pytest.mark.parametrize("name", PRETEXT_METHODS)
def test_views_have_the_methods_count_and_size(name):
    views = pretext_views({"name": name}, 32)(IMAGE)
    assert len(views) == (4 if name == "rotation" else 2)
    assert all(v.shape == (3, 32, 32) and v.dtype == torch.float32 for v in views)


@pytest.mark.parametrize("name", PRETEXT_METHODS)
def test_views_depend_on_torchs_seed_only(name):
    maker = pretext_views({"name": name}, 32)
    torch.manual_seed(5)
    first = maker(IMAGE)
    torch.manual_seed(5)
    random.seed(99)
    np.random.seed(99)
    again = maker(IMAGE)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    torch.manual_seed(6)
    other = maker(IMAGE)
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_two_views_differ():
    torch.manual_seed(0)
    first, second = pretext_views({"name": "moco_v2"}, 32)(IMAGE)
    assert not torch.equal(first, second)


def test_rotation_views_are_the_four_rotations_of_one_crop():
    torch.manual_seed(0)
    views = pretext_views({"name": "rotation"}, 24)(IMAGE)
    for turns, view in enumerate(views):
        assert torch.equal(view, torch.rot90(views[0], turns, dims=(1, 2)))
    assert not torch.equal(views[0], views[2])


def test_views_are_normalised_like_the_classification_task():
    from viprepro.tasks.classification import data

    plain = {"name": "rotation", "augment": {"scale": [1.0, 1.0], "hflip": False}}
    image = torch.full((3, 32, 32), 255, dtype=torch.uint8)
    view = pretext_views(plain, 32)(image)[0]
    expected = (1 - torch.tensor(data.MEAN)) / torch.tensor(data.STD)
    assert torch.allclose(view[:, 0, 0], expected)


def test_augment_overrides_are_read():
    no_change = {"scale": [1.0, 1.0], "hflip": False, "jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0}
    torch.manual_seed(0)
    first, second = pretext_views({"name": "moco_v2", "augment": no_change}, 40)(IMAGE[:, :, :40])
    assert torch.equal(first, second)


@pytest.mark.parametrize(
    "method,key",
    [
        ({"name": "moco_v2", "queu": 10}, "queu"),
        ({"name": "simclr", "queue": 10}, "queue"),
        ({"name": "rotation", "temperature": 0.1}, "temperature"),
        ({"name": "moco_v2", "augment": {"blurr_p": 0.1}}, "augment.blurr_p"),
        ({"name": "simclr", "augment": {"color_jitter": [0.4, 0.4, 0.4, 0.1]}}, "augment.color_jitter"),
    ],
)
def test_unknown_keys_are_refused_by_name(method, key):
    with pytest.raises(ValueError, match=f"unknown key '{key}'"):
        resolve(method)
    with pytest.raises(ValueError, match=f"'{key}'"):
        pretext_views(method, 32)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown pretext method 'byol'"):
        pretext_keys("byol")
    with pytest.raises(ValueError, match="needs a 'name'"):
        resolve({"dim": 128})


def test_keys_are_what_the_code_reads():
    assert pretext_keys("moco_v2") == {"name", "augment", "dim", "queue", "momentum", "temperature", "mlp", "margin", "shuffle_groups"}
    assert pretext_keys("rotation") == {"name", "augment"}
    assert "color_strength" in augment_keys("simclr") and "color_strength" not in augment_keys("moco_v2")


@pytest.mark.parametrize(
    "augment,key",
    [
        ({"blur_p": 1.5}, "augment.blur_p"),
        ({"scale": [0.8, 0.2]}, "augment.scale"),
        ({"scale": 0.5}, "augment.scale"),
        ({"color_jitter": [0.4, 0.4, 0.4]}, "augment.color_jitter"),
        ({"blur_sigma": [0.0, 2.0]}, "augment.blur_sigma"),
        ({"hflip": "yes"}, "augment.hflip"),
    ],
)
def test_bad_augment_values_are_refused_by_key(augment, key):
    with pytest.raises(ValueError, match=f"key '{key}'"):
        resolve({"name": "moco_v2", "augment": augment})


def _jitter(method: dict):
    (jitter,) = [t for t in pretext_views(method, 32).transform.transforms if isinstance(t, v2.RandomApply)][:1]
    return jitter.transforms[0]


def test_simclr_hue_replaces_only_the_hue_jitter():
    paper = _jitter({"name": "simclr", "augment": {"color_strength": 0.5}})
    assert paper.hue == (-0.1, 0.1) and paper.saturation == (0.6, 1.4)
    kept = _jitter({"name": "simclr", "augment": {"color_strength": 0.5, "hue": 0.0}})
    assert kept.hue is None and kept.saturation == paper.saturation and kept.brightness == paper.brightness
    for bad in (0.6, -0.1, True, "0"):
        with pytest.raises(ValueError, match="key 'augment.hue'"):
            resolve({"name": "simclr", "augment": {"hue": bad}})


class _Images(torch.utils.data.Dataset):
    def __init__(self, maker):
        self.maker = maker

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int):
        return self.maker(IMAGE)


def test_views_in_seeded_loader_workers_repeat_under_the_same_seed():
    """What a pretext stage's loader does: two workers, the engine's seeded generator."""
    from viprepro.training.loading import seeded_loader

    def epoch(seed: int):
        generator = torch.Generator()
        loader = seeded_loader(_Images(pretext_views({"name": "moco_v2"}, 24)), 3, shuffle=True, workers=2, generator=generator)
        generator.manual_seed(seed)
        return [torch.cat(views) for views in loader]

    first, again, other = epoch(1), epoch(1), epoch(2)
    assert len(first) == 2 and first[0].shape == (6, 3, 24, 24)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
