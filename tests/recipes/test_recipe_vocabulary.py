"""The recipe vocabulary: strict keys, timm-equal schedules, EMA applied, no key without code."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
import yaml

from viprepro.errors import UserError
from viprepro.files.schemas_io import load_schema, validation_schema
from viprepro.specs.load import load_spec
from viprepro.tasks import TASK_NAMES, get_task
from viprepro.training import engine
from viprepro.training.optim import build_optimizer, build_scheduler

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "viprepro"
C3 = REPO / "config" / "submissions" / "top2020" / "top2020_cls3_kim_effnet_b4.yaml"
BASE = REPO / "config" / "submissions" / "classification_resnet_small.yaml"


def write(tmp_path, spec, name="spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


# --- strict specs ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda s: s["recipe"].update(emaa={"decay": 0.9999}), "recipe.emaa"),
        (lambda s: s["recipe"]["augment"].update(randaugment={"magnitude_sd": 0.5}), "recipe.augment.randaugment.magnitude_sd"),
        (lambda s: s["recipe"].update(ema={"decay": 0.99, "decy": 1}), "recipe.ema.decy"),
        (lambda s: s["recipe"]["lr_schedule"].update(warmup_lrr=1e-6), "recipe.lr_schedule.warmup_lrr"),
        (lambda s: s["recipe"]["optimizer"].update(name="adam", momentum=0.5), "recipe.optimizer.momentum"),
        (lambda s: s["recipe"].update(loss={"name": "focal", "label_smoothing": 0.1}), "recipe.loss.label_smoothing"),
        (lambda s: s["model"].update(name="efficientnet_b4"), "model.name"),
        (lambda s: s["model"].update(name="timm/efficientnet_b44"), "model.name"),
        (lambda s: s["recipe"]["optimizer"].update(name="rmsprop_tff"), "recipe.optimizer.name"),
        (lambda s: s.update(unknownz=[]), "unknownz"),
    ],
)
def test_misspelt_or_unused_key_is_refused_naming_file_and_path(tmp_path, edit, key):
    spec = yaml.safe_load(BASE.read_text())
    edit(spec)
    path = write(tmp_path, spec)
    with pytest.raises(UserError) as error:
        load_spec(path)
    assert str(path) in error.value.message and f"'{key}'" in error.value.message, error.value.message


@pytest.mark.slow
def test_snakemake_dry_run_refuses_a_misspelt_spec_at_once(tmp_path):
    import subprocess

    from testutils import pipeline_env, snakemake_command

    spec = yaml.safe_load(BASE.read_text())
    spec["recipe"]["augment"]["randaugment"] = {"num_ops": 2, "magnitude_sd": 0.5}
    path = write(tmp_path, spec, "misspelt.yaml")
    config = {"tasks": ["classification"], "datasets": {"classification": {"submissions": [str(path)]}}}
    config_path = write(tmp_path, config, "config.yaml")
    result = subprocess.run(
        snakemake_command()
        + ["-n", "--directory", str(tmp_path), "--snakefile", str(REPO / "Snakefile"), "--configfile", str(config_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=pipeline_env(),
        timeout=300,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(path) in output and "recipe.augment.randaugment.magnitude_sd" in output, output


def _leaf_paths(schema: dict, prefix: str = "recipe"):
    for key, prop in schema.get("properties", {}).items():
        path = f"{prefix}.{key}"
        yield path, key
        if "properties" in prop:
            yield from _leaf_paths(prop, path)


def _task_code(task: str) -> str:
    sources = [
        SRC / name
        for name in (
            "training/engine.py",
            "training/acceleration.py",
            "training/optim.py",
            "training/augment.py",
            "specs/scale.py",
            "training/loading.py",
        )
    ]
    own = sorted((SRC / "tasks" / task).glob("*.py"))
    # a task built on another one (detection_delftbikes on detection) reads keys through the modules it imports
    used = {m for p in own for m in re.findall(r"from viprepro\.tasks\.(\w+)\.(\w+) import", p.read_text()) if m[0] != task}
    sources += own + sorted(SRC / "tasks" / package / f"{module}.py" for package, module in used)
    sources += sorted(get_task(task).schema("recipe").parent.glob("*.py"))  # a task may share another task's recipe keys
    return "\n".join(p.read_text() for p in sources)


def schema_problems(schema: dict, code: str) -> list[str]:
    """Open objects (accepting unknown keys) and keys that no code reads."""
    problems = []

    def walk(node, path):
        if isinstance(node, dict) and "properties" in node:
            if node.get("additionalProperties") is not False:
                problems.append(f"{path} accepts unknown keys")
            for key, prop in node["properties"].items():
                walk(prop, f"{path}.{key}")

    walk(schema, "recipe")
    # read as a string key, or as a keyword parameter of a loss or transform (`xent: float = ...`)
    problems += [
        f"{path}: no code reads it"
        for path, key in _leaf_paths(schema)
        if not re.search(rf"[\"']{key}[\"']|\b{key}: (float|int|bool)", code)
    ]
    return problems


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_recipe_object_is_closed_and_every_key_is_read_by_code(task):
    """A recipe key that no code reads cannot exist: each key name must be read in the code
    that trains or predicts (the shared engine modules and the task's package)."""
    assert schema_problems(validation_schema(f"recipe.{task}.schema.yaml"), _task_code(task)) == []


def test_the_schema_walk_catches_a_dead_key_and_an_open_object():
    schema = copy.deepcopy(validation_schema("recipe.classification.schema.yaml"))
    schema["properties"]["ema"]["properties"]["bias_correction"] = {"type": "boolean", "default": False, "description": "x."}
    del schema["properties"]["augment"]["additionalProperties"]
    problems = schema_problems(schema, _task_code("classification"))
    assert problems == ["recipe.augment accepts unknown keys", "recipe.ema.bias_correction: no code reads it"]


def test_submission_schema_is_closed_at_every_level():
    def walk(node, path):
        if isinstance(node, dict) and "properties" in node:
            assert node.get("additionalProperties") is False or path in {"claimed"}, path
            for key, prop in node["properties"].items():
                walk(prop, f"{path}.{key}" if path else key)

    walk(load_schema("submission.schema.yaml"), "")


# --- schedules: the lr trace equals timm's scheduler for the same arguments --------------------
def _trace(schedule: dict, epochs: int, steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build_scheduler(optimizer, schedule, epochs, steps)
    out = []
    for _ in range(epochs * steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def _timm_trace(scheduler, epochs: int, steps: int, per_epoch: bool) -> list[float]:
    optimizer = scheduler.optimizer
    out = []
    for epoch in range(epochs):
        for step in range(steps):
            out.append(optimizer.param_groups[0]["lr"])
            if not per_epoch:
                scheduler.step_update(epoch * steps + step + 1)
        if per_epoch:
            scheduler.step(epoch + 1)
    return out


def _sgd(lr):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_step_schedule_of_the_c3_entry_equals_timm():
    from timm.scheduler import StepLRScheduler

    spec = load_spec(C3)["recipe"]["lr_schedule"]
    ours = _trace(spec, 12, 3, 0.016)
    # timm's train.py passes warmup_prefix=False (its flag's default; 0.1.x had no prefix), timm 1.x's class defaults to True
    timm = _timm_trace(
        StepLRScheduler(_sgd(0.016), decay_t=2.4, decay_rate=0.97, warmup_t=3, warmup_lr_init=1e-6, warmup_prefix=False), 12, 3, True
    )
    assert ours == pytest.approx(timm, rel=1e-12, abs=1e-15)
    assert ours[0] == pytest.approx(1e-6) and min(ours) < 0.016 * 0.97**3  # warm-up from the absolute lr, then decays
    prefixed = _trace({**spec, "warmup_prefix": True}, 12, 3, 0.016)
    timm = _timm_trace(StepLRScheduler(_sgd(0.016), decay_t=2.4, decay_rate=0.97, warmup_t=3, warmup_lr_init=1e-6), 12, 3, True)
    assert prefixed == pytest.approx(timm, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (
            {
                "name": "cosine",
                "min_lr": 1e-4,
                "cycle_epochs": 3,
                "cycle_mul": 2.0,
                "cycle_decay": 0.5,
                "cycle_limit": 3,
                "warmup_epochs": 1,
                "warmup_lr": 1e-5,
            },
            dict(kind="cosine", t_initial=9, lr_min=1e-4, cycle_mul=2.0, cycle_decay=0.5, cycle_limit=3, warmup_t=3, warmup_lr_init=1e-5),
        ),
        ({"name": "polynomial", "power": 0.9, "min_lr": 0.0}, dict(kind="poly", t_initial=36, power=0.9, lr_min=0.0)),
        (
            {"name": "cosine", "min_lr": 1e-3, "warmup_epochs": 2, "warmup_lr": 0.0, "warmup_prefix": True},
            dict(kind="cosine", t_initial=30, lr_min=1e-3, warmup_t=6, warmup_lr_init=0.0, warmup_prefix=True),
        ),
    ],
)
def test_per_iteration_schedules_equal_timm(ours, theirs):
    from timm.scheduler import CosineLRScheduler, PolyLRScheduler

    kind = theirs.pop("kind")
    cls = CosineLRScheduler if kind == "cosine" else PolyLRScheduler
    timm = _timm_trace(cls(_sgd(0.1), t_in_epochs=False, **theirs), 12, 3, False)
    assert _trace(ours, 12, 3, 0.1) == pytest.approx(timm, rel=1e-9, abs=1e-12)


def test_multistep_per_epoch_equals_timm():
    """viprepro's milestones are torch's (decay from epoch m on); timm applies milestone m at m - 1."""
    from timm.scheduler import MultiStepLRScheduler

    timm = _timm_trace(
        MultiStepLRScheduler(_sgd(0.1), decay_t=[4, 8], decay_rate=0.5, warmup_t=2, warmup_lr_init=0.01, warmup_prefix=False), 10, 4, True
    )
    ours = _trace(
        {"name": "multistep", "per": "epoch", "milestones": [3, 7], "gamma": 0.5, "warmup_epochs": 2, "warmup_lr": 0.01}, 10, 4, 0.1
    )
    assert ours == pytest.approx(timm, rel=1e-12)


# --- optimisers -------------------------------------------------------------------------------
def test_optimizers_come_from_the_libraries_and_skip_decay_on_norm_and_bias():
    from timm.optim import Lamb, RMSpropTF

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    rms = build_optimizer(
        model,
        {"name": "rmsprop_tf", "lr": 0.016, "alpha": 0.9, "eps": 1e-3, "momentum": 0.9, "weight_decay": 1e-5, "no_decay_norm_bias": True},
    )
    assert isinstance(rms, RMSpropTF) and rms.defaults["eps"] == 1e-3 and rms.defaults["alpha"] == 0.9
    decays = sorted((g["weight_decay"], sum(p.numel() for p in g["params"])) for g in rms.param_groups)
    assert decays == [(0.0, 4 + 4 + 4), (1e-5, 3 * 4 * 9)]  # conv bias + BN weight/bias undecayed
    assert isinstance(build_optimizer(model, {"name": "lamb", "lr": 0.01}), Lamb)
    plain = build_optimizer(model, {"name": "rmsprop", "lr": 0.01, "weight_decay": 1e-5})
    assert isinstance(plain, torch.optim.RMSprop) and len(plain.param_groups) == 1


# --- EMA --------------------------------------------------------------------------------------
def _tiny_spec(**recipe) -> dict:
    spec = load_spec(BASE)
    spec = copy.deepcopy(spec)
    spec["model"]["kwargs"] = {"width": 4, "depth": 1}
    spec["recipe"].update(epochs=2, batch_size=4, input_size=16, **recipe)
    return spec


def test_prediction_uses_ema_weights_which_differ_from_the_raw_ones(tmp_path, datasets):
    task, data = get_task("classification"), datasets("classification")
    spec = _tiny_spec(ema={"decay": 0.5, "warmup": False, "evaluate": True})
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=data["subset"], seed=0, identity={"spec": "ema"})
    final = engine.train(run, tmp_path / "m.pt", tmp_path / "state")
    assert final["eval_weights"] == "ema" and final["ema_weights_digest"] != final["final_weights_digest"]
    model, state = engine.load_trained_model(task, tmp_path / "m.pt", data["subset"], torch.device("cpu"))
    from viprepro.training.checkpoint import state_digest

    assert state_digest(model.state_dict()) == final["ema_weights_digest"]
    # the same recipe without `evaluate` predicts with the raw weights
    raw = _tiny_spec(ema={"decay": 0.5, "warmup": False, "evaluate": False})
    engine.train(
        engine.TrainingRun(task=task, spec=raw, subset_dir=data["subset"], seed=0, identity={"spec": "raw"}),
        tmp_path / "r.pt",
        tmp_path / "state_r",
    )
    model, state = engine.load_trained_model(task, tmp_path / "r.pt", data["subset"], torch.device("cpu"))
    assert state_digest(model.state_dict()) == state["final_weights_digest"]


def test_resume_with_ema_and_accumulation_is_exact(tmp_path, datasets):
    task, data = get_task("classification"), datasets("classification")
    spec = _tiny_spec(
        ema={"decay": 0.9, "warmup": True, "evaluate": True},
        accumulate_steps=2,
        optimizer={"name": "rmsprop_tf", "lr": 0.01, "eps": 1e-3, "weight_decay": 1e-5, "no_decay_norm_bias": True},
        lr_schedule={"name": "step", "per": "epoch", "step_size": 0.5, "gamma": 0.9, "warmup_epochs": 1, "warmup_lr": 1e-4},
        loss={"name": "focal_cosine"},
        augment={"timm_policy": "rand-m9-mstd0.5", "random_erasing": 0.5, "random_erasing_mode": "pixel", "interpolation": "random"},
    )
    spec = load_spec(write(tmp_path, {**{k: v for k, v in spec.items() if k not in ("scale",)}}, "full.yaml"))

    def run():
        return engine.TrainingRun(task=task, spec=copy.deepcopy(spec), subset_dir=data["subset"], seed=0, identity={"spec": "r"})

    whole = engine.train(run(), tmp_path / "a.pt", tmp_path / "sa")
    with pytest.raises(KeyboardInterrupt):
        engine.train(run(), tmp_path / "b.pt", tmp_path / "sb", stop_after_epoch=1)
    resumed = engine.train(run(), tmp_path / "b.pt", tmp_path / "sb")
    assert (resumed["final_weights_digest"], resumed["ema_weights_digest"]) == (whole["final_weights_digest"], whole["ema_weights_digest"])


def test_every_shipped_spec_saved_with_its_defaults_loads_to_itself(tmp_path):
    """A certificate keeps the spec with every default filled in; `viprepro rerun` loads it again."""
    for path in sorted((REPO / "config" / "submissions").rglob("*.yaml")):
        spec = load_spec(path)
        assert load_spec(write(tmp_path, spec, f"{path.stem}.yaml")) == spec, path.name
