"""Each new ingredient does what its key says: losses, timm augmentations, certificate caveats."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_recipe_vocabulary import C3

from viprepro.specs.load import load_spec
from viprepro.tasks.classification import data as cls_data
from viprepro.tasks.classification import losses as cls_losses
from viprepro.tasks.segmentation import losses as seg_losses
from viprepro.tasks.segmentation.labels import VOID_TRAIN_ID


def test_focal_cosine_is_cosine_embedding_plus_focal_ce_on_normalised_logits():
    torch.manual_seed(0)
    logits, target = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])
    one_hot = F.one_hot(target, 5).float()
    cosine = F.cosine_embedding_loss(logits, one_hot, torch.ones(6))
    ce = F.cross_entropy(F.normalize(logits), target, reduction="none")
    expected = cosine + 0.1 * ((1 - torch.exp(-ce)) ** 2 * ce).mean()
    assert torch.allclose(cls_losses.criterion({"name": "focal_cosine"})(logits, target), expected)
    # soft (mixed) targets give the same value for one-hot targets
    assert torch.allclose(cls_losses.criterion({"name": "focal_cosine"})(logits, one_hot), expected)
    assert torch.allclose(cls_losses.criterion({"name": "cosine", "xent": None})(logits, target), cosine)
    assert torch.allclose(cls_losses.criterion({"name": "soft_target_cross_entropy"})(logits, target), F.cross_entropy(logits, target))


def test_segmentation_losses_weight_mine_and_ignore_void():
    torch.manual_seed(0)
    logits = torch.randn(2, 20, 8, 8)
    masks = torch.randint(0, 19, (2, 8, 8))
    logits[:, :, :4] += 10 * F.one_hot(masks, 20).permute(0, 3, 1, 2)[:, :, :4]  # the top half is easy
    masks[0, 6:] = VOID_TRAIN_ID
    weights = [1.0] * 18 + [3.0]
    weighted = seg_losses.criterion({"name": "cross_entropy", "class_weights": weights})(logits, masks)
    expected = F.cross_entropy(logits, masks, weight=torch.tensor(weights + [0.0]), ignore_index=VOID_TRAIN_ID)
    assert torch.allclose(weighted, expected)
    plain = seg_losses.criterion({"name": "cross_entropy"})(logits, masks)
    assert not torch.allclose(weighted, plain)
    ohem = seg_losses.criterion({"name": "ohem_cross_entropy", "ohem_threshold": 0.7, "ohem_min_kept": 10})(logits, masks)
    assert ohem > plain  # only the hardest pixels count
    perfect = F.one_hot(masks.clamp(max=19), 20).permute(0, 3, 1, 2).float() * 100
    assert seg_losses.criterion({"name": "dice"})(perfect, masks) < 1e-3
    assert seg_losses.criterion({"name": "dice"})(logits, masks) > 0.2  # half the pixels are near chance


def _image():
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 40, 40), dtype=np.uint8))


def test_timm_policy_and_erasing_are_applied_and_seeded_from_torch():
    recipe = load_spec(C3)["recipe"]
    recipe = {**recipe, "input_size": 32}
    plain = {**recipe, "augment": {**recipe["augment"], "timm_policy": None, "random_erasing": 0.0}}
    with_timm, without = cls_data.train_transform(recipe), cls_data.train_transform(plain)
    assert "RandAugment" in repr(with_timm) and "RandomErasing" in repr(with_timm)
    state = random.getstate()
    changed = 0
    for seed in range(8):
        outputs = []
        for transform in (with_timm, with_timm, without):
            torch.manual_seed(seed)
            outputs.append(transform(_image()))
        assert torch.equal(outputs[0], outputs[1])  # same torch seed, same image
        changed += not torch.equal(outputs[0], outputs[2])
    assert changed >= 4  # the policy and the erasing changed most images (each op fires with probability 0.5)
    assert random.getstate() == state  # Python's generator is left as it was


def test_bad_timm_policy_names_its_key():
    from viprepro.errors import UserError

    recipe = load_spec(C3)["recipe"]
    recipe = {**recipe, "input_size": 32, "augment": {**recipe["augment"], "timm_policy": "rand-x9"}}
    with pytest.raises(UserError) as error:
        cls_data.train_transform(recipe)
    assert "recipe.augment.timm_policy" in error.value.message


def test_certificate_shows_unknowns_approximations_and_unmapped(tmp_path):
    from viprepro.report.document import Document, Section, to_markdown
    from viprepro.report.sections import _caveats

    spec = load_spec(C3)
    spec["unmapped"] = {"lr_noise": [100, 200]}
    text = to_markdown(Document(title="t", lead="", sections=[Section("claimed", _caveats(spec))]), tmp_path)
    assert all(unknown in text for unknown in spec["unknowns"][:2])
    assert "test-time augmentation" in text and "lr_noise" in text and "NOT applied" in text


def test_cascade_rcnn_has_three_stages_with_rising_iou_and_weighted_losses():
    from viprepro.tasks.detection import models

    torch.manual_seed(0)
    kwargs = dict(
        backbone="resnet18",
        min_size=64,
        max_size=64,
        representation_size=32,
        fpn_channels=16,
        box_score_thresh=0.0,
        rpn_pre_nms_top_n_train=50,
        rpn_post_nms_top_n_train=30,
        box_batch_size_per_image=16,
    )
    model = models.build("cascadercnn_fpn", 4, stage_weights=[1.0, 0.5, 0.0], **kwargs)
    stages = model.roi_heads.stages
    assert [s.proposal_matcher.high_threshold for s in stages] == [0.5, 0.6, 0.7]
    assert [s.box_coder.weights for s in stages] == [(10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0), (30.0, 30.0, 15.0, 15.0)]
    images = [torch.rand(3, 64, 64)]
    targets = [{"boxes": torch.tensor([[5.0, 5.0, 40.0, 40.0]]), "labels": torch.tensor([2])}]
    losses = model(images, targets)
    assert {f"loss_classifier_stage{i}" for i in (1, 2, 3)} <= set(losses)
    assert losses["loss_classifier_stage3"] == 0 and losses["loss_classifier_stage2"] > 0  # weight 0 switches a stage's loss off
    model.eval()
    with torch.no_grad():
        detections = model(images)[0]
    assert detections["boxes"].shape[1] == 4 and len(detections["scores"]) == len(detections["labels"]) > 0
    from viprepro.errors import UserError

    with pytest.raises(UserError):
        models.build("cascadercnn_fpn", 4, box_fg_iou_thresh=0.6)  # each stage has its own: the key would do nothing


def test_training_transform_tta_averages_seeded_passes(tmp_path, datasets):
    from viprepro.tasks.classification import models, predict

    data = datasets("classification")
    torch.manual_seed(0)
    model = models.build("resnet_small", 3, width=4, depth=1).eval()
    recipe = {**load_spec(C3)["recipe"], "input_size": 32, "batch_size": 4, "eval_resize": 36}
    outputs = {}
    for name, passes in (("a", 3), ("b", 3), ("c", 0)):
        predict.predict(
            [model], data["subset"], {**recipe, "tta_train_passes": passes}, tmp_path / f"{name}.csv", device=torch.device("cpu"), workers=0
        )
        outputs[name] = (tmp_path / f"{name}.csv").read_bytes()
    assert outputs["a"] == outputs["b"]  # repeated inference writes the same file
    files = predict.test_files(data["subset"])
    clean, augmented = (
        predict.ensemble_probabilities(
            [model],
            predict.make_loader(predict.ImageFiles(files, [0] * len(files), transform), recipe, shuffle=False, workers=0),
            torch.device("cpu"),
        )
        for transform in (predict.eval_transform(recipe), cls_data.train_transform(recipe))
    )
    assert not torch.allclose(clean, augmented)  # the training transform really differs from the evaluation crop


def test_segmentation_flip_tta_is_the_mean_with_the_mirrored_prediction():
    from torchvision.transforms.v2 import functional as TF

    from viprepro.tasks.segmentation import predict as seg_predict
    from viprepro.tasks.segmentation.data import normalize
    from viprepro.tasks.segmentation.labels import TRAIN_TO_ID

    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 20, 5, padding=2).eval()
    image = torch.randint(0, 256, (3, 16, 32), dtype=torch.uint8)
    recipe = {"test_size": [16, 32], "upsample": "bilinear", "tta_hflip": True}
    x = normalize(TF.resize(image, [16, 32], antialias=True))[None]
    with torch.no_grad():
        expected = (model(x).softmax(1) + model(x.flip(-1)).softmax(1).flip(-1)) / 2
        plain = model(x).softmax(1)
    assert np.array_equal(seg_predict.label_ids([model], image, recipe, torch.device("cpu")), TRAIN_TO_ID[expected.argmax(1)[0].numpy()])
    assert not np.array_equal(TRAIN_TO_ID[plain.argmax(1)[0].numpy()], TRAIN_TO_ID[expected.argmax(1)[0].numpy()])


@pytest.mark.parametrize(
    "name, kwargs, key",
    [
        ("timm/resnet18", {"pretrained": True}, "model.kwargs.pretrained"),
        ("timm/resnet18", {"checkpoint_path": "weights.pth"}, "model.kwargs.checkpoint_path"),
        ("torchvision/resnet18", {"weights": "IMAGENET1K_V1"}, "model.kwargs"),
    ],
)
def test_pretrained_weights_are_refused_for_library_models(name, kwargs, key):
    from viprepro.errors import UserError
    from viprepro.tasks.classification import models

    with pytest.raises(UserError) as error:
        models.build(name, 3, **kwargs)
    assert key in error.value.message


def test_hugging_face_hub_is_offline_once_viprepro_is_imported():
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE
