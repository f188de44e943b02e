"""Clip sampling, the bad clips a loader must name before training, the models and the specs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from action_recognition_helpers import audio_only_clip, clip, truncated_clip

from viprepro.errors import UserError
from viprepro.files.schemas_io import validate
from viprepro.specs.load import load_spec
from viprepro.tasks.action_recognition import data, models

REPO = Path(__file__).resolve().parents[2]


def recipe(**overrides) -> dict:
    values = {"epochs": 1, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.1}, **overrides}
    validate(values, "recipe.action_recognition.schema.yaml")
    return values


def test_clips_have_the_recipe_shape_and_cover_the_video(ucf):
    r = recipe(frames_per_clip=4, frame_stride=2, test_clips=3, resize=[20, 24], crop_size=12)
    train, val, opened = data.training_sets(ucf["subset"], r)
    clip_tensor, label = train[0]
    assert clip_tensor.shape == (3, 4, 12, 12) and clip_tensor.dtype == torch.uint8 and 0 <= label < 4
    expected = (clip_tensor.float() / 255 - torch.tensor(data.MEAN).view(3, 1, 1, 1)) / torch.tensor(data.STD).view(3, 1, 1, 1)
    assert torch.allclose(data.model_input(clip_tensor[None], torch.device("cpu"))[0], expected, atol=1e-5)
    clips, _ = val[0]
    assert clips.shape == (3, 3, 4, 12, 12)
    assert data.clip_indices(12, r, train=False) == [[0, 2, 4, 6], [2, 4, 6, 8], [5, 7, 9, 11]]  # spans of 7 frames, evenly spread
    assert len(opened) == len(train) + len(val) == 16


def test_cached_and_decoded_clips_are_identical(ucf):
    r = recipe(frames_per_clip=8, test_clips=2)
    _, decoded, _ = data.training_sets(ucf["subset"], r)
    _, cached, _ = data.training_sets(ucf["subset"], {**r, "cache_decoded": True})
    assert cached.cache is not None and decoded.cache is None
    assert all(torch.equal(decoded[i][0], cached[i][0]) for i in range(len(decoded)))


@pytest.fixture
def subset_copy(ucf, tmp_path):
    shutil.copytree(ucf["subset"], tmp_path / "subset")
    return tmp_path / "subset"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: truncated_clip(p), "truncated AVI: the RIFF header declares"),
        (lambda p: p.write_bytes(b""), "empty file \\(0 bytes\\)"),
        (lambda p: audio_only_clip(p), "no video stream"),
        (lambda p: clip(p, frames=5), "has 5 frames, fewer than the 8 the recipe samples per clip"),
    ],
)
def test_loaders_name_a_bad_clip_before_training(task, subset_copy, damage, message):
    for name in ("video_train_0000002.avi", "video_validation_0000003.avi"):
        target = subset_copy / "videos" / name
        target.unlink()
        damage(target)
    with pytest.raises(
        UserError,
        match=f"2 unreadable or unusable clip\\(s\\).*\n  video_train_0000002.avi: {message}.*\n  video_validation_0000003.avi: {message}",
    ):
        task.loaders(subset_copy, recipe(frames_per_clip=8), seed=0, workers=0, generator=torch.Generator())


def test_a_short_test_clip_is_named_before_prediction(task, subset_copy, tmp_path):
    target = subset_copy / "videos" / "video_test_0000004.avi"
    target.unlink()
    clip(target, frames=3)
    model = task.build_model({"name": "tiny3d", "kwargs": {"width": 4}}, subset_copy)
    with pytest.raises(UserError, match="video_test_0000004.avi: has 3 frames, fewer than the 8"):
        task.predict([model], subset_copy, recipe(frames_per_clip=8), tmp_path / "submission.txt", device=torch.device("cpu"), workers=0)
    assert not (tmp_path / "submission.txt").exists()


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18", "tiny3d"])
def test_models_are_built_from_scratch_for_the_subset_classes(name):
    torch.manual_seed(0)
    model = models.build(name, num_classes=4)
    torch.manual_seed(0)
    again = models.build(name, num_classes=4)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert model(torch.zeros(1, 3, 4, 32, 32)).shape == (1, 4)


def test_an_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown action recognition model 'c3d'.*known: mc3_18, r2plus1d_18, r3d_18, tiny3d"):
        models.build("c3d", num_classes=4)


def test_the_shipped_specs_load():
    full = load_spec(REPO / "config" / "submissions" / "action_recognition_r2plus1d_18.yaml")
    assert full["model"]["name"] == "r2plus1d_18" and full["claimed"]["top1"]["value"] == 0.9071
    assert full["recipe"]["frames_per_clip"] == 16 and full["recipe"]["crop_size"] == 112
    tiny = load_spec(REPO / "config" / "submissions" / "action_recognition_tiny_cpu.yaml")
    assert tiny["embedded_default"] is True and tiny["recipe"]["cache_decoded"] is True


def test_the_file_access_audit_sees_every_clip_a_loader_reads(task, ucf):
    """Clips are read through Python file objects, so the training job's audit hook sees them."""
    from viprepro.tasks.action_recognition.video_io import decode
    from viprepro.training.guards import FileAccessRecorder

    path = ucf["subset"] / "videos" / "video_train_0000001.avi"
    with FileAccessRecorder() as opened:
        decode(path, [0, 1])
    assert opened.paths == {str(path)}
    with FileAccessRecorder() as opened:
        loaders = task.loaders(ucf["subset"], recipe(frames_per_clip=8), seed=0, workers=0, generator=torch.Generator())
        for _ in loaders.train:
            pass
    videos = {Path(p).name for p in opened.paths if Path(p).parent.name == "videos"}
    assert videos == {Path(p).name for p in loaders.opened_files}
    assert any(name.startswith("video_train_") for name in videos) and not any(name.startswith("video_test_") for name in videos)
