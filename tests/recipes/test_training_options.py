"""Recipe options that trade bit-exactness for speed: precision, channels_last, torch.compile.

On the CPU: bf16 and fp16 autocast (fp16 with a gradient scaler, whose state resumes
exactly), channels_last, and torch.compile (slow: it compiles). Each is recorded with what
it costs in bit-exactness; off, the loop is the fp32 eager one.
"""

from __future__ import annotations

import copy

import pytest
import torch
import yaml
from testutils import SMOKE_DATASETS, one_thread, tiny_dataset

from viprepro.errors import UserError
from viprepro.jobs.determinism import apply_level
from viprepro.judging import evidence
from viprepro.specs.load import load_spec
from viprepro.tasks import get_task
from viprepro.training import acceleration, checkpoint, engine

_one_thread = pytest.fixture(autouse=True)(one_thread)

SPEC = {
    "name": "options_tiny",
    "task": "classification",
    "model": {"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}},
    "seed": 0,
    "recipe": {
        "epochs": 2,
        "batch_size": 4,
        "input_size": 24,
        "cache_decoded": True,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    },
    "claimed": {"top1": {"value": 0.5}},
}


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    return tiny_dataset(get_task("classification"), tmp_path_factory.mktemp("options"), SMOKE_DATASETS["classification"])["subset"]


def _spec(tmp_path, model=None, **recipe):
    spec = copy.deepcopy(SPEC)
    spec["recipe"].update(recipe)
    spec["model"] = model or spec["model"]
    path = tmp_path / f"spec_{len(list(tmp_path.glob('spec_*')))}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_spec(path)


def _train(tmp_path, subset, spec, name, **kwargs):
    apply_level("strict")
    run = engine.TrainingRun(task=get_task("classification"), spec=spec, subset_dir=subset, seed=0, identity={"spec": name})
    return engine.train(run, tmp_path / f"{name}.pt", tmp_path / f"state_{name}", **kwargs)


def test_bf16_autocast_trains_on_the_cpu_and_costs_exactness(tmp_path, subset):
    fp32 = _train(tmp_path, subset, _spec(tmp_path), "fp32")
    bf16 = _train(tmp_path, subset, _spec(tmp_path, precision="bf16"), "bf16")
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in bf16["history"])
    assert bf16["final_weights_digest"] != fp32["final_weights_digest"], "bf16 autocast did not change the arithmetic"
    again = _train(tmp_path, subset, _spec(tmp_path, precision="bf16"), "bf16_again")
    assert again["final_weights_digest"] == bf16["final_weights_digest"], "bf16 runs are bit-identical to each other here"
    record = acceleration.record(_spec(tmp_path, precision="bf16")["recipe"], "cpu")
    assert record["precision"] == "bf16" and "8 mantissa bits" in record["bit_exactness_costs"][0]


def test_fp16_uses_a_gradient_scaler_whose_state_resumes_exactly(tmp_path, subset):
    spec = _spec(tmp_path, precision="fp16")
    full = _train(tmp_path, subset, spec, "fp16_full")
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, subset, spec, "fp16_killed", stop_after_epoch=1)
    state = checkpoint.load(tmp_path / "state_fp16_killed" / "last.pt")
    assert state["scaler"]["scale"] > 0, "the gradient scaler is on and its state is saved"
    resumed = _train(tmp_path, subset, spec, "fp16_killed")
    assert resumed["final_weights_digest"] == full["final_weights_digest"]


def test_amp_keeps_its_meaning_and_cannot_be_combined_with_precision(tmp_path):
    assert acceleration.precision({"amp": True}, "cpu").name == "fp32"  # as before: nothing on the CPU
    assert acceleration.precision({"amp": True}, "cuda").name == "fp16"
    assert acceleration.precision({}, "cuda").dtype is None
    with pytest.raises(UserError, match=r"recipe.amp"):
        _spec(tmp_path, amp=True, precision="bf16")
    with pytest.raises(UserError, match=r"precision"):
        _spec(tmp_path, precision="fp8")


def test_channels_last_trains_and_saves_plain_weights(tmp_path, subset):
    # Width 8: torch 2.14.1's CPU backward of a channels_last 1x1 stride-2 convolution with 4
    # input channels corrupts memory (a torch bug, seen on AVX2; docs/cluster.md).
    spec = _spec(tmp_path, model={"name": "resnet_small", "kwargs": {"width": 8, "depth": 1}}, channels_last=True)
    final = _train(tmp_path, subset, spec, "cl")
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in final["history"])
    model, _ = engine.load_trained_model(get_task("classification"), tmp_path / "cl.pt", subset, torch.device("cpu"))
    assert model is not None
    record = acceleration.record(spec["recipe"], "cpu")
    assert record["channels_last"] and "memory layout" in record["bit_exactness_costs"][0]


def test_options_reach_the_determinism_record_of_the_verdict():
    records = [
        {"training_options": acceleration.record({"precision": "bf16", "channels_last": True}, "cpu")},
        {"training_options": acceleration.record({}, "cpu", world_size=2)},
        {},
    ]
    summary = evidence.determinism(records, {0: {"identical": True, "repeats": 2}}, "strict")["training_options"]
    assert len(summary["settings"]) == 2
    assert any("bf16" in cost for cost in summary["bit_exactness_costs"])
    assert any("several processes" in cost for cost in summary["bit_exactness_costs"])
    plain = evidence.determinism([{"training_options": acceleration.record({}, "cpu")}], {}, "strict")["training_options"]
    assert plain["bit_exactness_costs"] == []


@pytest.mark.slow
def test_torch_compile_trains_close_to_eager(tmp_path, subset):
    wider = {"name": "resnet_small", "kwargs": {"width": 8, "depth": 1}}  # width 4 meets the torch bug above
    eager = _train(tmp_path, subset, _spec(tmp_path, wider, epochs=1), "eager")
    compiled = _train(tmp_path, subset, _spec(tmp_path, wider, epochs=1, compile="default"), "compiled")
    assert compiled["history"][0]["train_loss"] == pytest.approx(eager["history"][0]["train_loss"], rel=1e-3)
    assert set(compiled["model"]) == set(eager["model"]), "checkpoints hold the module's own keys, not _orig_mod.*"


def test_timm_sync_bn_becomes_the_recipe_key():
    from pathlib import Path

    from viprepro.specs.timm_import import import_timm_args

    args = yaml.safe_load((Path(__file__).parent / "data" / "effnet4_args.yaml").read_text())
    args["sync_bn"] = True
    imported = import_timm_args(args, name="c3", claims={"top1": 0.67})
    assert imported.spec["recipe"]["sync_batchnorm"] is True and "sync_bn" in imported.mapped
