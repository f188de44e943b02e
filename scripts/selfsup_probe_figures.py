"""Does a short pretext run learn anything? k-NN and linear-probe accuracy per epoch vs random init.

    python scripts/selfsup_probe_figures.py --method moco_v2 --epochs 10 [--pretext '{"queue": 256}'] [--workdir DIR]

Synthesises a small classification dataset (the task's generator, `--classes` classes,
`--per-class` train images each), cuts the official subset, pre-trains `resnet_small` on the
subset's train images with the chosen pretext method and no labels, and after every epoch
(epoch 0 = the random initialisation) reports the weighted k-NN and the linear-probe top-1 on
val, fitted on train labels: the read-out the pipeline's probe job logs per epoch. The library
calls are those a `pretext` stage makes (viprepro.training.selfsup); the loop is a plain one
(no checkpoints), seeded from (seed, epoch) as the engine seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

from viprepro.jobs.determinism import derive_seed, seed_everything
from viprepro.tasks import get_task
from viprepro.tasks.classification import data
from viprepro.tasks.classification.models import build
from viprepro.training.loading import seeded_loader
from viprepro.training.selfsup import (
    backbone_of,
    build_pretext,
    pretext_backbone,
    pretext_views,
)
from viprepro.training.selfsup.probe import probe_accuracies


class Views(Dataset):
    """Decoded train images as pretext views; the labels are never returned."""

    def __init__(self, images: list[torch.Tensor], make_views):
        self.images, self.make_views = images, make_views

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.make_views(self.images[index])


def subset(workdir: Path, classes: int, per_class: int, seed: int) -> Path:
    task = get_task("classification")
    options = {
        "classes": classes,
        "subset_per_class": per_class,
        "extra_train_per_class": 0,
        "val_per_class": max(10, per_class // 2),
        "image_size": 48,
    }
    made = task.synthesize(workdir / "synthetic", seed=seed, options=options)
    task.subset(made["source"], made["manifests"], workdir / "subset", workdir / "hidden", link="hardlink", options={})
    return workdir / "subset"


def probe(backbone, subset_dir: Path, input_size: int, classes: int, seed: int) -> dict:
    recipe = {"input_size": input_size, "batch_size": 128}
    names = data.class_names(subset_dir)
    loaders = {}
    for split in ("train", "val"):
        files, labels = data.split_files(subset_dir, split, names)
        loaders[split] = data.make_loader(
            data.ImageFiles(files, labels, data.eval_transform(recipe), cache=True), recipe, shuffle=False, workers=0
        )
    generator = torch.Generator().manual_seed(derive_seed(seed, 9))
    return probe_accuracies(backbone, loaders["train"], loaders["val"], torch.device("cpu"), classes=classes, generator=generator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="moco_v2")
    parser.add_argument("--pretext", default="{}", help="JSON: further keys of the pretext mapping")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.06)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="reuse WORKDIR/subset if it exists (e.g. the embedded default's)")
    parser.add_argument("--probe-every", type=int, default=1, help="probe every N epochs (the random init and the last epoch always)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        subset_dir = workdir / "subset" if (workdir / "subset").is_dir() else subset(workdir, args.classes, args.per_class, args.seed)
        names = data.class_names(subset_dir)
        files, _ = data.split_files(subset_dir, "train", names)  # the labels stay unread
        images = [data.decode(f) for f in files]

        seed_everything(args.seed)
        backbone, features = backbone_of(build("resnet_small", len(names), width=args.width, depth=args.depth))
        method = {"name": args.method, **json.loads(args.pretext)}
        pretext = build_pretext(method, backbone, features)
        generator = torch.Generator()
        loader = seeded_loader(
            Views(images, pretext_views(method, args.input_size)),
            args.batch_size,
            shuffle=True,
            workers=0,
            generator=generator,
            drop_last=True,
        )
        parameters = [p for p in pretext.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(parameters, lr=args.lr, momentum=0.9, weight_decay=5e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))
        print(f"{args.method} {json.dumps(method)}: {len(images)} train images, {len(names)} classes, {len(loader)} steps/epoch")
        print(f"epoch 0 (random init): {probe(pretext_backbone(pretext), subset_dir, args.input_size, len(names), args.seed)}")
        for epoch in range(args.epochs):
            torch.manual_seed(derive_seed(args.seed, epoch))
            generator.manual_seed(derive_seed(args.seed, epoch, 1))
            pretext.train()
            started, total = time.perf_counter(), 0.0
            for views in loader:
                loss = pretext(views)
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(f"loss {loss.item()} in epoch {epoch + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item()
            seconds = time.perf_counter() - started
            probed = (epoch + 1) % args.probe_every == 0 or epoch + 1 == args.epochs
            figures = probe(pretext_backbone(pretext), subset_dir, args.input_size, len(names), args.seed) if probed else ""
            print(f"epoch {epoch + 1}: loss {total / len(loader):.4f} ({seconds:.1f} s) {figures}", flush=True)


if __name__ == "__main__":
    main()
