"""Models are built from scratch and refuse unknown arguments; synthesise -> subset -> train
-> predict -> validate -> score through the Task interface (no Snakemake)."""

from __future__ import annotations

import pytest
import torch
import yaml

from viprepro.errors import UserError
from viprepro.files.subset_manifest import read_manifest
from viprepro.specs.load import load_spec
from viprepro.tasks.detection.scoring import STAT_KEYS
from viprepro.tasks.instance_segmentation import models
from viprepro.training import engine
from viprepro.training.guards import FileAccessRecorder
from viprepro.training.record import audit_opened_files

SMALL = {
    "widths": [8, 16, 32, 64],
    "fpn_channels": 32,
    "representation_size": 64,
    "mask_layers": [16],
    "min_size": 72,
    "max_size": 96,
    "anchor_sizes": [[8], [16], [32], [64], [128]],
    "rpn_pre_nms_top_n_train": 200,
    "rpn_post_nms_top_n_train": 100,
    "rpn_pre_nms_top_n_test": 200,
    "rpn_post_nms_top_n_test": 50,
    "rpn_batch_size_per_image": 32,
    "box_batch_size_per_image": 32,
    "box_detections_per_img": 20,
}
TINY_SPEC = {
    "name": "instance_segmentation_test_tiny",
    "task": "instance_segmentation",
    "model": {"name": "maskrcnn_small_fpn", "kwargs": SMALL},
    "recipe": {"epochs": 2, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.01}, "grad_clip": 10.0},
    "claimed": {"ap": {"value": 0.1}},
}


def test_the_baseline_is_torchvisions_mask_rcnn_from_scratch_with_detectron2s_freezing():
    model = models.build("maskrcnn_resnet50_fpn", 3)
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    library = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3)
    ours = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    theirs = {k for k in library.state_dict() if not k.endswith("num_batches_tracked")}
    assert ours == theirs
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(name.startswith(("backbone.body.conv1", "backbone.body.layer1")) for name in frozen)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.body.modules())


@pytest.mark.parametrize(
    "name, kwargs, expected",
    [
        ("maskrcnn_small_fpn", {"min_sise": 64}, "takes no argument"),
        ("maskrcnn_resnet50_fpn", {"mask_head": None}, "takes no argument"),
        ("maskrcnn_tiny", {}, "unknown instance segmentation model"),
        ("maskrcnn_small_fpn", {"mask_layers": []}, "at least one"),
        ("maskrcnn_resnet50_fpn", {"norm_layer": "gn"}, "norm_layer"),
        ("torchvision/maskrcnn_resnet50_fpn", {"min_sise": 64}, "takes no argument"),
    ],
)
def test_bad_model_arguments_are_refused(name, kwargs, expected):
    with pytest.raises(UserError, match=expected):
        models.build(name, 3, **kwargs)


def test_a_torchvision_name_builds_from_scratch():
    model = models.build("torchvision/maskrcnn_resnet50_fpn_v2", 3)
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(TINY_SPEC))
    return load_spec(path)


def test_train_predict_validate_and_score(task, courts, gt_doc, spec, tmp_path):
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=courts["subset"], seed=0)
    with FileAccessRecorder() as opened:
        final = engine.train(run, tmp_path / "model.pt", tmp_path / "state")
    audit = audit_opened_files(
        opened.paths, courts["subset"], read_manifest(courts["subset"]), ["train"], forbidden=[courts["hidden"], courts["source"]]
    )
    assert audit["passed"], audit["violations"]
    assert [h["epoch"] for h in final["history"]] == [1, 2] and "val_ap" in final["history"][-1]
    model, _ = engine.load_trained_model(task, tmp_path / "model.pt", courts["subset"], torch.device("cpu"))
    model.roi_heads.score_thresh = 0.0  # an untrained model scores low: keep its instances
    summary = task.predict(
        [model, model], courts["subset"], spec["recipe"], tmp_path / "submission.zip", device=torch.device("cpu"), workers=0
    )
    assert summary["images"] == len(gt_doc["images"]) and summary["members"] == 2 and summary["instances"] > 0
    assert task.validate(courts["gt"], tmp_path / "submission.zip", {}) == []
    for mode in ("strict", "official"):
        scores = task.score(courts["gt"], tmp_path / "submission.zip", tmp_path / mode, mode=mode, options={})
        assert all(0 <= scores[k] <= 1 or scores[k] == -1 for k in STAT_KEYS)
    val = task.predict([model], courts["subset"], spec["recipe"], tmp_path / "val.zip", device=torch.device("cpu"), workers=0, split="val")
    gt = task.write_val_ground_truth(courts["subset"], tmp_path / "val_gt")
    assert val["split"] == "val" and task.validate(gt, tmp_path / "val.zip", {}) == []


@pytest.mark.slow
def test_the_baseline_spec_runs_at_smoke_scale(task, courts, gt_doc, tmp_path):
    """The shipped full-scale baseline, shrunk by `scale: smoke` (one epoch, 128 px, batch 4),
    trains, predicts and scores: every field of the spec is read by the code that runs it."""
    from testutils import REPO

    text = (REPO / "config/submissions/instance_segmentation_maskrcnn_r50_baseline.yaml").read_text()
    path = tmp_path / "baseline.yaml"
    path.write_text(text + "scale: smoke\n")
    spec = load_spec(path)
    assert spec["recipe"]["epochs"] == 1 and spec["model"]["kwargs"]["max_size"] == 128
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=courts["subset"], seed=0)
    engine.train(run, tmp_path / "model.pt", tmp_path / "state")
    model, _ = engine.load_trained_model(task, tmp_path / "model.pt", courts["subset"], torch.device("cpu"))
    task.predict([model], courts["subset"], spec["recipe"], tmp_path / "submission.zip", device=torch.device("cpu"), workers=0)
    scores = task.score(courts["gt"], tmp_path / "submission.zip", tmp_path / "scores", mode="official", options={})
    assert 0 <= scores["ap"] <= 1
