"""ImageNet classification on the `imagenet_50` subset (VIPriors 2020, task 1).

The modules that need torch and torchvision (data, losses, models, predict) are imported where
they are used, as in the detection task: synthesising, subsetting and scoring never run a
model, and torch and torchvision cost a pipeline job seconds of start-up and half a gigabyte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...submission_io import add_text_arguments
from ..base import Loaders, MetricSpec, SubsetResult, Task
from . import scoring, submission, subset, synth


class Classification(Task):
    name = "classification"
    metrics = (MetricSpec("top1", "Top-1 accuracy"),)
    submission_filename = "submission.csv"
    val_metric = "top1"

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--verify", choices=("none", "header", "full"), default="header",
                            help="check source images before linking: header (fast, catches truncation) or full decode")

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--num-classes", type=int, default=None,
                            help="label range 0..N-1 (default: the largest label in the ground truth + 1)")
        add_text_arguments(parser, submission.DEFAULT_MAX_MB)

    def synthesize(self, out, *, seed, options):
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        return subset.subset(source, manifests, out, hidden, link=link, verify=options.get("verify", "header"))

    def hidden_ground_truth(self, hidden: Path) -> Path:
        return Path(hidden) / subset.GT_NAME

    def build_model(self, model: dict, subset_dir: Path):
        from . import data, models

        return models.build(model["name"], len(data.class_names(subset_dir)), **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from . import data

        train, val, opened = data.training_sets(Path(subset_dir), recipe)
        workers = recipe.get("workers", workers)
        mixer = data.batch_mixer(recipe, len(data.class_names(subset_dir)))
        return Loaders(
            train=data.make_loader(train, recipe, shuffle=True, workers=workers, generator=generator,
                                   drop_last=len(train) > recipe["batch_size"], collate_fn=data.MixingCollate(mixer) if mixer else None),
            val=None if val is None else data.make_loader(val, recipe, shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(p) for p in opened],
        )

    def training_loss(self, model, batch, recipe, device):
        from . import losses

        images, targets = batch
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        return losses.criterion(recipe.get("loss", {}))(model(images), targets)

    def evaluate(self, model, loader, device) -> dict[str, float]:
        correct = total = 0
        for images, targets in loader:
            predicted = model(images.to(device)).argmax(dim=1).cpu()
            correct += int((predicted == targets).sum())
            total += len(targets)
        return {"top1": correct / max(1, total)}

    def predict(self, models_, subset_dir, recipe, out, *, device, workers) -> dict:
        from . import predict

        return predict.predict(models_, Path(subset_dir), recipe, Path(out), device=device, workers=recipe.get("workers", workers))

    def validate(self, gt, submission_path, options) -> list[str]:
        truth = submission.read_ground_truth(gt)
        num_classes = options.get("num_classes") or max(truth.values()) + 1
        return submission.validate(truth, submission_path, num_classes, max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB)

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, num_classes=options.get("num_classes"),
                             max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB)


TASK = Classification()
