"""`viprepro spec import-timm` on the real args.yaml of the 3rd-place 2020 classification entry."""

from __future__ import annotations

from pathlib import Path

import yaml

from viprepro.cli import main
from viprepro.specs.load import load_spec

HERE = Path(__file__).parent
ARGS = HERE / "data" / "effnet4_args.yaml"
REPO = HERE.parents[1]


def run(tmp_path, *extra, args_yaml=ARGS, out="spec.yaml"):
    return main(["spec", "import-timm", str(args_yaml), "--name", "c3", "--claim", "top1=0.67", "--out", str(tmp_path / out), *extra])


def test_real_args_yaml_imports_with_nothing_unmapped(tmp_path, capsys):
    assert run(tmp_path) == 0
    spec = load_spec(tmp_path / "spec.yaml")
    assert "unmapped" not in yaml.safe_load((tmp_path / "spec.yaml").read_text()) and spec["unmapped"] == {}
    recipe = spec["recipe"]
    assert spec["model"] == {"name": "timm/efficientnet_b4", "kwargs": {"drop_rate": 0.3, "drop_path_rate": 0.2, "global_pool": "avg"}}
    assert (spec["seed"], recipe["epochs"], recipe["batch_size"], recipe["input_size"]) == (42, 450, 16, 380)
    assert recipe["optimizer"] == {
        "name": "rmsprop_tf",
        "lr": 0.016,
        "alpha": 0.9,
        "eps": 0.001,
        "momentum": 0.9,
        "weight_decay": 1e-5,
        "no_decay_norm_bias": True,
        "nesterov": False,
        "dampening": 0.0,
        "betas": [0.9, 0.999],
        "centered": False,
    }
    schedule = recipe["lr_schedule"]
    assert (
        schedule["name"],
        schedule["per"],
        schedule["step_size"],
        schedule["gamma"],
        schedule["warmup_epochs"],
        schedule["warmup_lr"],
    ) == ("step", "epoch", 2.4, 0.97, 3, 1e-6)
    assert recipe["ema"] == {"decay": 0.9999, "evaluate": True, "warmup": False}
    assert recipe["loss"]["name"] == "focal_cosine"
    augment = recipe["augment"]
    assert (augment["timm_policy"], augment["random_erasing"], augment["random_erasing_mode"], augment["interpolation"]) == (
        "rand-m9-mstd0.5",
        0.2,
        "pixel",
        "random",
    )
    assert augment["color_jitter"] == 0.0  # timm skips it when `aa` is set
    printed = capsys.readouterr().out
    for field in ("data", "log_interval", "workers", "color_jitter", "smoothing", "cooldown_epochs"):
        assert f"ignored {field}:" in printed  # every ignored field is named, with why


def test_shipped_c3_spec_is_the_import_plus_what_the_sources_add(tmp_path):
    assert run(tmp_path) == 0
    imported, shipped = load_spec(tmp_path / "spec.yaml"), load_spec(REPO / "config/submissions/top2020/top2020_cls3_kim_effnet_b4.yaml")
    assert shipped["recipe"].pop("tta_train_passes") == 3  # from the repository's inference_tta.py, not from args.yaml
    imported["recipe"].pop("tta_train_passes")
    assert imported["recipe"] == shipped["recipe"] and imported["model"] == shipped["model"] and imported["seed"] == shipped["seed"]
    assert set(imported["unknowns"]) <= set(shipped["unknowns"])


def test_unmapped_training_field_fails_listing_each(tmp_path, capsys):
    args = yaml.safe_load(ARGS.read_text())
    args.update(lr_noise=[100, 200], jsd=True, aug_splits=3, fancy_new_flag=7)
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    assert run(tmp_path, args_yaml=path) == 1
    error = capsys.readouterr().err
    for field in ("lr_noise", "aug_splits", "fancy_new_flag"):
        assert f"  {field} = " in error
    assert not (tmp_path / "spec.yaml").exists()  # nothing partial
    assert run(tmp_path, "--allow-unmapped", args_yaml=path) == 0
    spec = load_spec(tmp_path / "spec.yaml")
    assert spec["unmapped"]["fancy_new_flag"] == 7 and spec["unmapped"]["lr_noise"] == [100, 200]


def test_pretrained_or_resumed_runs_are_not_from_scratch(tmp_path, capsys):
    args = yaml.safe_load(ARGS.read_text())
    args.update(initial_checkpoint="imagenet21k.pth")
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    assert run(tmp_path, args_yaml=path) == 1
    assert "initial_checkpoint" in capsys.readouterr().err


def test_existing_output_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "spec.yaml").write_text("mine")
    assert run(tmp_path) == 1
    assert (tmp_path / "spec.yaml").read_text() == "mine"


def test_models_lists_what_can_be_built(capsys):
    assert main(["models", "--task", "classification", "--filter", "efficientnet_b4"]) == 0
    out = capsys.readouterr().out
    assert "timm/efficientnet_b4" in out.splitlines()
    assert main(["models", "--task", "detection"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "fasterrcnn_small_fpn" in lines and "torchvision/fasterrcnn_resnet50_fpn" in lines and not any(n.startswith("timm/") for n in lines)
    )
