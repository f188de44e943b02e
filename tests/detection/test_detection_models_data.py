"""Models from scratch, COCO targets as torchvision's references build them, loading errors."""

from __future__ import annotations

import shutil

import pytest
import torch
from torchvision.ops.misc import FrozenBatchNorm2d

from viprepro.errors import UserError
from viprepro.specs.load import load_spec
from viprepro.tasks.detection import data, models
from viprepro.training.checkpoint import state_digest

TINY_MODEL = {
    "widths": [8, 16, 32, 64],
    "fpn_channels": 32,
    "representation_size": 64,
    "min_size": 64,
    "max_size": 64,
    "anchor_sizes": [[8], [16], [32], [64], [128]],
}


def test_num_classes_covers_the_coco_ids(coco):
    assert data.num_classes(coco["subset"]) == 91


def test_baseline_is_built_as_in_2020_frozen_bn_and_layers_2_to_4_trainable():
    model = models.build("fasterrcnn_resnet18_fpn", 91, norm_layer="frozen_bn", trainable_layers=3)
    body = model.backbone.body
    assert isinstance(body.bn1, FrozenBatchNorm2d) and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    trainable = {name.split(".")[0] for name, p in body.named_parameters() if p.requires_grad}
    assert trainable == {"layer2", "layer3", "layer4"}
    assert model.roi_heads.box_predictor.cls_score.out_features == 91


def test_same_seed_same_initial_weights_other_seed_other_weights():
    def digest(seed):
        torch.manual_seed(seed)
        return state_digest(models.build("fasterrcnn_small_fpn", 91, **TINY_MODEL).state_dict())

    assert digest(0) == digest(0) != digest(1)


def test_bad_model_names_and_arguments_are_user_errors():
    with pytest.raises(UserError, match="unknown detection model 'yolo'"):
        models.build("yolo", 91)
    with pytest.raises(UserError, match=r"fasterrcnn_small_fpn takes no argument\(s\) depth") as caught:
        models.build("fasterrcnn_small_fpn", 91, depth=3)
    assert caught.value.where == "model.kwargs"


def test_targets_drop_crowd_boxes_and_training_skips_images_without_boxes(coco):
    train = data.split_dataset(coco["subset"], "train", train=True)
    document = train.document
    crowd_images = {a["image_id"] for a in document["annotations"] if a["iscrowd"]}
    boxes_per_image = {}
    for ann in document["annotations"]:
        if not ann["iscrowd"]:
            boxes_per_image[ann["image_id"]] = boxes_per_image.get(ann["image_id"], 0) + 1
    assert len(train) == len(boxes_per_image) < len(document["images"])
    for image, target in (train[i] for i in range(len(train))):
        assert len(target["boxes"]) == boxes_per_image[target["image_id"]] == len(target["labels"])
        assert image.dtype == torch.float32 and image.shape[0] == 3 and float(image.max()) <= 1
    assert crowd_images, "the tiny dataset has a crowd to drop"
    val = data.split_dataset(coco["subset"], "val", train=False)
    assert len(val) == len(val.document["images"]), "evaluation keeps every image"


def test_flip_mirrors_image_and_boxes(coco):
    plain = data.split_dataset(coco["subset"], "train", train=True)
    flipping = data.split_dataset(coco["subset"], "train", train=True, hflip=True)
    image, target = plain[0]
    width = image.shape[-1]
    outcomes = set()
    for seed in range(8):
        torch.manual_seed(seed)
        flipped, flipped_target = flipping[0]
        mirrored = torch.equal(flipped, image.flip(-1))
        outcomes.add(mirrored)
        expected = target["boxes"].clone()
        if mirrored:
            expected[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
        else:
            assert torch.equal(flipped, image)
        assert torch.equal(flipped_target["boxes"], expected)
    assert outcomes == {True, False}


def test_corrupt_image_at_load_time_is_named(coco, tmp_path):
    subset = shutil.copytree(coco["subset"], tmp_path / "subset", copy_function=shutil.copy)
    dataset = data.split_dataset(subset, "test", train=False)
    broken = dataset.files[0]
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(UserError, match="cannot decode image") as caught:
        dataset[0]
    assert caught.value.path == str(broken)


@pytest.mark.parametrize("name", ["detection_frcnn_r18_baseline", "detection_tiny_cpu"])
def test_shipped_specs_load_and_build(repo, name):
    spec = load_spec(repo / f"config/submissions/{name}.yaml")
    model = models.build(spec["model"]["name"], 91, **spec["model"].get("kwargs", {}))
    assert model.transform.min_size == (spec["model"]["kwargs"]["min_size"],)
    assert list(spec["claimed"]) == ["ap"] and spec["embedded_default"] == (name == "detection_tiny_cpu")
