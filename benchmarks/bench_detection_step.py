"""What a training step of the CPU submission costs at torchvision's default sizes.

torchvision's detectors resize every image to `min_size` (800, longest side at most 1333)
and keep 2000 RPN proposals and 512 ROI samples per image in training. On 128 px synthetic
images that is a 6x upscale and mostly wasted work; the CPU spec sets min_size = max_size =
128 and small budgets. This times training steps (one thread, batch 8, the synthetic
subset) of the spec's model as written, at the default input size, and with the default
input size and budgets, and prints each against the spec's own step.

    .venv/bin/python benchmarks/bench_detection_step.py [--subset results/data/detection/subset]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from viprepro.specs.load import load_spec
from viprepro.tasks import get_task
from viprepro.tasks.detection import data, models

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "config/submissions/detection_tiny_cpu.yaml"
DEFAULT_SIZE = {"min_size": 800, "max_size": 1333}
DEFAULT_BUDGETS = {
    "rpn_pre_nms_top_n_train": 2000,
    "rpn_post_nms_top_n_train": 2000,
    "rpn_batch_size_per_image": 256,
    "box_batch_size_per_image": 512,
}


def subset_dir(given: Path | None, tmp: Path) -> Path:
    if given:
        return given
    task = get_task("detection")
    made = task.synthesize(tmp / "synthetic", seed=0, options={"train_images": 32, "val_images": 8, "val2017_images": 8})
    task.subset(made["source"], made["manifests"], tmp / "subset", tmp / "hidden", link="hardlink", options={})
    return tmp / "subset"


def seconds_per_step(subset: Path, kwargs: dict, steps: int) -> float:
    dataset = data.split_dataset(subset, "train", train=True, hflip=True)
    loader = data.make_loader(dataset, {"batch_size": 8}, shuffle=True, workers=0, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = models.build("fasterrcnn_small_fpn", data.num_classes(subset), **kwargs).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = iter(loader)
    times = []
    for step in range(steps + 1):  # the first step warms up allocators and is not counted
        images, targets = next(batches)
        started = time.perf_counter()
        loss = sum(model(list(images), list(targets)).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=Path, default=None, help="a detection subset (default: a small synthetic one)")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec_kwargs = load_spec(SPEC)["model"]["kwargs"]
    variants = {
        "spec (128 px, small budgets)": spec_kwargs,
        "default size 800/1333": {**spec_kwargs, **DEFAULT_SIZE},
        "default size and budgets": {**spec_kwargs, **DEFAULT_SIZE, **DEFAULT_BUDGETS},
    }
    with tempfile.TemporaryDirectory() as tmp:
        subset = subset_dir(args.subset, Path(tmp))
        results = {name: seconds_per_step(subset, kwargs, args.steps) for name, kwargs in variants.items()}
    baseline = results["spec (128 px, small budgets)"]
    print(f"{'variant':<32}{'s/step':>8}{'vs spec':>9}   (median of {args.steps} steps, batch 8, 1 thread)")
    for name, seconds in results.items():
        print(f"{name:<32}{seconds:>8.2f}{seconds / baseline:>8.1f}x")
    from benchlog import record

    default = results["default size and budgets"]
    record(
        "detection CPU spec: training step vs torchvision's default size and budgets",
        ours=baseline,
        baseline=default,
        unit="s/step",
        ratio=default / baseline,
    )


if __name__ == "__main__":
    main()
