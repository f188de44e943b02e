"""Models (from scratch, 20 outputs), the data pipeline, and the shipped specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from viprepro.errors import UserError
from viprepro.specs.load import load_spec
from viprepro.tasks.segmentation import data, models
from viprepro.tasks.segmentation.labels import ID_TO_TRAIN, TRAIN_TO_ID, VOID_TRAIN_ID

SPECS = Path(__file__).resolve().parents[2] / "config" / "submissions"
RECIPE = {
    "batch_size": 2,
    "train_size": [24, 48],
    "crop_size": [16, 32],
    "test_size": [24, 48],
    "scale_jitter": 0.2,
    "hflip": True,
    "color_jitter": 0.2,
    "cache_decoded": False,
    "upsample": "nearest",
}


@pytest.mark.parametrize(
    "name, kwargs", [("unet", {"width": 4}), ("unet", {"width": 4, "batchnorm": False}), ("lraspp_mobilenet_v3_large", {})]
)
def test_models_predict_20_channels_at_input_size(name, kwargs):
    model = models.build(name, **kwargs).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 40, 72)).shape == (1, 20, 40, 72)  # U-Net pads odd skips itself


def test_baseline_unet_has_the_official_size():
    """The toolkit's UNet(20, batchnorm=True): 64..512 channels, 13.40M parameters."""
    assert sum(p.numel() for p in models.build("unet").parameters()) == 13_396_564


def test_unknown_model_or_argument_is_a_user_error():
    with pytest.raises(UserError, match="unknown segmentation model 'segformer'"):
        models.build("segformer")
    with pytest.raises(UserError, match="bad arguments for 'unet'"):
        models.build("unet", depth=3)


def test_train_ids_round_trip_and_void():
    assert ID_TO_TRAIN[7] == 0 and ID_TO_TRAIN[33] == 18 and ID_TO_TRAIN[0] == VOID_TRAIN_ID and ID_TO_TRAIN[29] == VOID_TRAIN_ID
    assert all(ID_TO_TRAIN[TRAIN_TO_ID[t]] == t for t in range(19)) and TRAIN_TO_ID[VOID_TRAIN_ID] == 0


def test_loader_is_deterministic_and_maps_to_train_ids(task, minicity):
    batches = []
    for _ in range(2):
        torch.manual_seed(11)
        generator = torch.Generator().manual_seed(3)
        loaders = task.loaders(minicity["subset"], dict(RECIPE), seed=0, workers=0, generator=generator)
        batches.append(next(iter(loaders.train)))
    (images, masks), (images2, masks2) = batches
    assert torch.equal(images, images2) and torch.equal(masks, masks2)
    assert images.shape == (2, 3, 16, 32) and images.dtype == torch.float32 and masks.shape == (2, 16, 32)
    assert masks.max() <= VOID_TRAIN_ID and set(masks.unique().tolist()) & {0, 1, 2}  # road, sidewalk, building


def test_val_split_unless_trained_on(task, minicity):
    loaders = task.loaders(minicity["subset"], dict(RECIPE), seed=0, workers=0, generator=torch.Generator())
    assert loaders.train_size == 8 and len(loaders.val.dataset) == 3 and len(loaders.opened_files) == 22
    both = task.loaders(minicity["subset"], {**RECIPE, "train_splits": ["train", "val"]}, seed=0, workers=0, generator=torch.Generator())
    assert both.train_size == 11 and both.val is None


def test_crop_larger_than_train_size_is_refused(task, minicity):
    with pytest.raises(UserError, match=r"crop_size \[32, 64\] is larger than train_size"):
        task.loaders(minicity["subset"], {**RECIPE, "crop_size": [32, 64]}, seed=0, workers=0, generator=torch.Generator())


def test_corrupt_training_image_is_named(tmp_path):
    broken = tmp_path / "x_leftImg8bit.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 20)
    with pytest.raises(UserError, match="cannot decode PNG") as caught:
        data.load_resized(broken, None, [8, 8])
    assert str(broken) in caught.value.message


def test_shipped_specs():
    baseline = load_spec(SPECS / "segmentation_unet_baseline.yaml")
    recipe = baseline["recipe"]
    assert (baseline["model"], recipe["epochs"], recipe["batch_size"]) == (
        {"name": "unet", "kwargs": {"width": 64, "batchnorm": True}},
        200,
        5,
    )
    assert (recipe["optimizer"]["name"], recipe["optimizer"]["lr"]) == ("sgd", 0.01)
    assert baseline["claimed"] == {"iou_class": {"value": 0.40, "split": "val", "tolerance": {"absolute": 0.03, "relative": 0.0}}}
    tiny = load_spec(SPECS / "segmentation_tiny_cpu.yaml")
    assert tiny["embedded_default"] and list(tiny["claimed"]) == ["iou_class"]


@pytest.mark.parametrize("name", ["recipe.segmentation.schema.yaml", "synthetic.segmentation.schema.yaml"])
def test_schemas_describe_and_default_every_key(name):
    from viprepro.files.schemas_io import load_schema

    properties = load_schema(name)["properties"]
    allowed = {"type", "minimum", "maximum", "default", "description", "items", "minItems", "maxItems", "enum"}
    for key, prop in properties.items():
        nested = {"properties", "additionalProperties"} if prop.get("type") == "object" else set()  # e.g. `loss`, closed
        assert set(prop) <= allowed | nested and "default" in prop and prop["description"].endswith((".", ")")), key
