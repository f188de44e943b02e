"""Weights digest after two epochs of every shipped embedded spec, on tiny synthetic data.

Run it on two versions of the code (PYTHONPATH=<src> python scripts/bit_identity.py DATA_DIR)
and compare the printed digests: a change that keeps the existing specs' numerics prints the
same lines. The datasets are made once in DATA_DIR (reused by later runs).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "classification": {"classes": 4, "subset_per_class": 6, "extra_train_per_class": 1, "val_per_class": 4, "image_size": 32},
    "segmentation": {"width": 96, "height": 48, "train_images": 8, "val_images": 3, "test_images": 4, "unused_images": 1},
    "detection": {"train_images": 24, "val_images": 8, "unused_train2017_images": 4, "val2017_images": 16, "categories": 4},
    "action_recognition": {
        "num_classes": 4,
        "groups": 3,
        "test_groups": 1,
        "clips_per_group": 2,
        "frames": 12,
        "size": 16,
        "fps": 25,
        "quality": 3,
    },
}
SPECS = [
    "classification_resnet_small",
    "classification_top2020_recipe",
    "segmentation_tiny_cpu",
    "detection_tiny_cpu",
    "action_recognition_tiny_cpu",
]


def subset_of(task, data: Path) -> Path:
    root = data / task.name
    if not (root / "subset").exists():
        made = task.synthesize(root / "synth", seed=0, options=dict(TINY[task.name]))
        task.subset(made["source"], made["manifests"], root / "subset", root / "hidden", link="hardlink", options={})
    return root / "subset"


def main(data: Path) -> None:
    from viprepro.jobs.determinism import apply_level
    from viprepro.specs.load import load_spec
    from viprepro.tasks import get_task
    from viprepro.training import engine

    apply_level("strict")
    torch.set_num_threads(1)
    for name in SPECS:
        spec = load_spec(REPO / "config" / "submissions" / f"{name}.yaml")
        spec = copy.deepcopy(spec)
        spec["recipe"]["epochs"] = 2
        if spec["task"] == "action_recognition":
            spec["recipe"]["frames_per_clip"] = 8
            spec["recipe"]["crop_size"] = 14
        task = get_task(spec["task"])
        run = engine.TrainingRun(task=task, spec=spec, subset_dir=subset_of(task, data), seed=0, identity={"name": name})
        out = data / "out" / name
        final = engine.train(run, out / "model.pt", out / "state")
        print(name, final["final_weights_digest"], f"{final['history'][0]['train_loss']:.17g}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
