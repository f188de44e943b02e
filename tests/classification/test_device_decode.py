"""`gpu_decode`: training JPEGs decoded as a batch on the training device.

Only the CPU path runs here (no GPU on the test machines): the same code with device=cpu,
i.e. libjpeg through torchvision.io.decode_jpeg instead of nvJPEG.
"""

from __future__ import annotations

import copy

import pytest
import torch
import yaml
from PIL import Image
from testutils import one_thread

from viprepro.errors import UserError
from viprepro.jobs.determinism import apply_level
from viprepro.specs.load import load_spec
from viprepro.tasks.classification import data, device_decode
from viprepro.training import engine

_one_thread = pytest.fixture(autouse=True)(one_thread)

SPEC = {
    "name": "gpu_decode_tiny",
    "task": "classification",
    "model": {"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}},
    "seed": 0,
    "recipe": {
        "epochs": 1,
        "batch_size": 4,
        "input_size": 24,
        "gpu_decode": True,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "augment": {"mixup_alpha": 0.2},
    },
    "claimed": {"top1": {"value": 0.5}},
}


def _load(tmp_path, **recipe):
    spec = copy.deepcopy(SPEC)
    spec["recipe"].update(recipe)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_spec(path)


def test_batch_decoding_matches_pillow_and_falls_back_for_a_png_named_jpeg(tmp_path, subset):
    files = sorted((subset.subset_dir / "train").rglob("*.JPEG"))[:3]
    disguised = tmp_path / "n0_png.JPEG"  # ImageNet ships one PNG under a .JPEG name
    Image.new("RGB", (20, 12), (200, 10, 30)).save(disguised, format="PNG")
    dataset = device_decode.EncodedFiles([*files, disguised], [0, 1, 2, 3])
    batch = device_decode.collate([dataset[i] for i in range(len(dataset))])
    images = device_decode.decode_batch(batch, torch.device("cpu"))
    for path, image in zip([*files, disguised], images):
        reference = data.decode(path)
        assert image.shape == reference.shape and image.dtype == torch.uint8
        # libjpeg through torchvision and through Pillow may use other IDCTs: a few levels at most.
        assert (image.int() - reference.int()).abs().max() <= 8, path
    assert torch.equal(images[-1], data.decode(disguised))


def test_gpu_decode_trains_on_the_cpu_path(tmp_path, task, subset):
    apply_level("strict")
    spec = _load(tmp_path)
    loaders = task.loaders(subset.subset_dir, spec["recipe"], seed=0, workers=0, generator=torch.Generator())
    batch = next(iter(loaders.train))
    assert isinstance(batch, device_decode.EncodedBatch) and len(batch) == 4
    images, targets = device_decode.DeviceTransform(spec["recipe"], data.batch_mixer(spec["recipe"], 4))(batch, torch.device("cpu"))
    assert images.shape == (4, 3, 24, 24) and targets.shape == (4, 4)  # mixed: soft targets
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=subset.subset_dir, seed=0, identity={"spec": "gpu_decode"})
    final = engine.train(run, tmp_path / "m.pt", tmp_path / "state")
    assert torch.isfinite(torch.tensor(final["history"][0]["train_loss"]))


def test_gpu_decode_with_cache_decoded_or_a_pil_policy_is_refused(tmp_path):
    with pytest.raises(UserError, match="recipe.gpu_decode"):
        _load(tmp_path, cache_decoded=True)
    with pytest.raises(UserError, match="recipe.augment.timm_policy"):
        _load(tmp_path, augment={"timm_policy": "rand-m9-mstd0.5"})
