"""Multi-stage specs: what loads, and every refusal, each one line naming the spec file and the key."""

from __future__ import annotations

import json

import pytest
import yaml

from viprepro.errors import UserError
from viprepro.specs.load import load_spec

RECIPE = {"epochs": 2, "batch_size": 8, "input_size": 16, "optimizer": {"name": "sgd", "lr": 0.05}}
PRETEXT_RECIPE = {**RECIPE, "pretext": {"name": "rotation"}}
SPEC = {
    "name": "multi",
    "task": "classification",
    "model": {"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}},
    "stages": [
        {"name": "ssl", "kind": "pretext", "recipe": PRETEXT_RECIPE},
        {"name": "finetune", "kind": "supervised", "init": {"from": "ssl"}, "recipe": RECIPE},
        {
            "name": "student",
            "kind": "distill",
            "teacher": {"from": "finetune"},
            "distill": {"kd_weight": 0.5, "kd_temperature": 2.0},
            "recipe": RECIPE,
        },
    ],
    "claimed": {"top1": {"value": 0.5}},
}


def write(tmp_path, spec) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def fresh() -> dict:
    """SPEC with no shared sub-mappings (a change to one stage's recipe stays in it)."""
    return json.loads(json.dumps(SPEC))


def refused(tmp_path, change) -> str:
    spec = fresh()
    change(spec)
    path = write(tmp_path, spec)
    with pytest.raises(UserError) as caught:
        load_spec(path)
    message = caught.value.message
    assert str(path) in message and "\n" not in message
    return message


def test_a_multi_stage_spec_loads_and_its_last_stage_is_the_model(tmp_path):
    spec = load_spec(write(tmp_path, fresh()))
    assert [s["name"] for s in spec["stages"]] == ["ssl", "finetune", "student"]
    assert spec["recipe"] == spec["stages"][-1]["recipe"] and spec["model"] == spec["stages"][-1]["model"]
    assert spec["stages"][1]["init"] == {"from": "ssl", "layers": "all", "freeze": [], "lr_multipliers": {}}
    assert set(spec["stages"][0]["recipe"]) <= {"epochs", "batch_size", "accumulate_steps", "optimizer", "lr_schedule", "grad_clip"} | {
        "input_size",
        "workers",
        "cache_decoded",
        "pretext",
    }  # a pretext stage keeps only the keys it reads
    again = tmp_path / "again.yaml"  # a certificate's copy (defaults filled, top-level recipe) loads again
    again.write_text(yaml.safe_dump(spec))
    assert load_spec(again)["stages"] == spec["stages"]


def test_a_spec_without_stages_is_unchanged(tmp_path):
    single = {k: v for k, v in fresh().items() if k != "stages"} | {"recipe": RECIPE}
    spec = load_spec(write(tmp_path, single))
    assert "stages" not in spec


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (lambda s: s["stages"][1]["init"].update({"from": "nope"}), "stages.1.init.from", "not an earlier stage"),
        (lambda s: s["stages"][1]["init"].update({"from": "student"}), "stages.1.init.from", "not an earlier stage"),
        (lambda s: s["stages"][1]["init"].update({"from": "finetune"}), "stages.1.init.from", "names itself"),
        (lambda s: s["stages"].append(s["stages"].pop(0)), "stages.0.init.from", "not an earlier stage"),
        (lambda s: s["stages"].append({"name": "again", "kind": "pretext", "recipe": PRETEXT_RECIPE}), "stages.3.kind", "last stage"),
        (lambda s: s["stages"][2].update({"name": "ssl"}), "stages.2.name", "used twice"),
        (lambda s: s["stages"][0].update({"init": {"from": "x"}}), "stages.0.init", "pretext stage does not read"),
        (lambda s: s["stages"][1].update({"teacher": {"from": "ssl"}}), "stages.1.teacher", "supervised stage does not read"),
        (lambda s: s["stages"][0]["recipe"].update({"augment": {"hflip": True}}), "stages.0.recipe.augment", "does not read"),
        (lambda s: s["stages"][0]["recipe"].pop("pretext"), "stages.0.recipe.pretext", "names its method"),
        (lambda s: s["stages"][0]["recipe"]["pretext"].update({"name": "jigsaw"}), "stages.0.recipe.pretext.name", "unknown pretext"),
        (lambda s: s["stages"][0]["recipe"]["pretext"].update({"queue_size": 64}), "stages.0.recipe.pretext.queue_size", "does not use"),
        (
            lambda s: s["stages"][0]["recipe"].update({"pretext": {"name": "simclr", "augment": {"blur": 1}}}),
            "stages.0.recipe.pretext.augment.blur",
            "unknown key",
        ),
        (
            lambda s: s["stages"][0]["recipe"].update({"pretext": {"name": "simclr", "augment": {"grayscale_p": 2}}}),
            "stages.0.recipe.pretext.augment.grayscale_p",
            "probability",
        ),
        (lambda s: s["stages"][1]["recipe"].update({"colour": 1}), "stages.1.recipe.colour", "unknown key"),
        (lambda s: s["stages"][1]["recipe"]["optimizer"].update({"betas": [0.8, 0.9]}), "stages.1.recipe.optimizer.betas", "does not use"),
        (lambda s: s["stages"][1]["init"].update({"depth": 3}), "stages.1.init.depth", "unknown key"),
        (lambda s: s["stages"][2]["teacher"].update({"from": "ssl"}), "stages.2.distill.kd_weight", "without a classifier"),
        (lambda s: s["stages"][2].pop("distill"), "stages.2.distill", "states its distill"),
        (lambda s: s["stages"][2]["distill"].update({"kd_weight": 0.0}), "stages.2.distill", "learns nothing"),
        (
            lambda s: s["stages"][2]["distill"].update({"feature": {"start_epoch": 2}}),
            "stages.2.distill.feature.start_epoch",
            "never count",
        ),
        (
            lambda s: (
                s["stages"][2]["teacher"].update({"from": ["ssl", "finetune"]}),
                s["stages"][2]["distill"].update(kd_weight=0.0, feature={}),
            ),
            "stages.2.distill.feature",
            "one teacher",
        ),
        (lambda s: s["stages"][2]["recipe"].update({"ema": {"decay": 0.99}}), "stages.2.recipe.ema", "no weight EMA"),
        (
            lambda s: s["stages"][1].update({"model": {"name": "resnet18"}}),
            "stages.1.init.from",
            "a backbone loads into its own architecture",
        ),
        (
            lambda s: s["stages"].insert(2, {"name": "unused", "kind": "supervised", "recipe": RECIPE}),
            "stages.2",
            "no later stage reads it",
        ),
        (lambda s: s.update({"recipe": {**RECIPE, "epochs": 9}}), "recipe", "no top-level recipe"),
        (
            lambda s: s["stages"].append({"name": "pl", "kind": "pseudo_label", "pseudo_label": {"from": "ssl"}, "recipe": RECIPE}),
            "stages.3.pseudo_label.from",
            "no classifier to label",
        ),
        (
            lambda s: s["stages"].append(
                {"name": "pl", "kind": "pseudo_label", "pseudo_label": {"from": "student", "images": "test"}, "recipe": RECIPE}
            ),
            "stages.3.pseudo_label.images",
            "DO NOT train on Imagenet validation data",
        ),
        (
            lambda s: (
                s["stages"].append({"name": "pl", "kind": "pseudo_label", "pseudo_label": {"from": "student"}, "recipe": RECIPE}),
                s["claimed"]["top1"].update(split="val"),
            ),
            "claimed.top1.split",
            "a stage trains on",
        ),
    ],
)
def test_a_bad_stage_is_refused_naming_the_key(tmp_path, change, where, words):
    message = refused(tmp_path, change)
    assert where in message.split(": ", 1)[0] and words in message, message


def test_a_task_without_unlabeled_loader_refuses_stages(tmp_path, monkeypatch):
    from viprepro.tasks import get_task
    from viprepro.tasks.base import Task

    monkeypatch.setattr(type(get_task("classification")), "unlabeled_loader", Task.unlabeled_loader)
    message = refused(tmp_path, lambda s: None)
    assert "does not support stages" in message


def test_every_2020_task_says_which_unlabeled_images_its_rules_allow():
    from viprepro.tasks import get_task

    for name in ("classification", "detection", "segmentation", "action_recognition"):
        task = get_task(name)
        assert set(task.unlabeled_images) == {"val"} and "656a8d0" in task.unlabeled_images["val"]
        assert "test" in task.unlabeled_refused and "656a8d0" in task.unlabeled_refused["test"]


def test_smoke_scale_shrinks_every_stage(tmp_path):
    spec = fresh() | {"scale": "smoke"}
    spec["stages"][2]["distill"]["feature"] = {"start_epoch": 1}
    loaded = load_spec(write(tmp_path, spec))
    assert all(stage["recipe"]["epochs"] == 1 for stage in loaded["stages"])
    assert loaded["stages"][0]["recipe"]["pretext"] == {"name": "rotation"}
    assert loaded["stages"][2]["distill"]["feature"]["start_epoch"] == 0
    assert loaded["recipe"] == loaded["stages"][-1]["recipe"]
