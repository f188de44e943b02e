"""Action recognition on mod-UCF101, the UCF-101 subset of VIPriors 2020 (task 4).

The modules that need torch and torchvision (data, models, predict) are imported where
they are used, as in the detection task: synthesising, subsetting and scoring never run a
model, and torch and torchvision cost a pipeline job seconds of start-up and half a gigabyte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...submission_io import add_text_arguments
from ..base import Loaders, MetricSpec, SubsetResult, Task
from . import scoring, submission, subset, synth
from .annotations import TEST_GT, read_labelled_clips
from .videocheck import LEVELS


class ActionRecognition(Task):
    name = "action_recognition"
    metrics = (MetricSpec("top1", "Top-1 accuracy"), MetricSpec("top3", "Top-3 accuracy"), MetricSpec("top5", "Top-5 accuracy"))
    submission_filename = "submission.txt"
    val_metric = "top1"

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--verify", choices=LEVELS, default="header",
                            help="check the selected clips before linking: header (fast, catches truncation) or full decode")

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--class-index", type=Path, default=None,
                            help="mod-ucf101-classInd.txt giving the classes (default: the one beside --gt, else 101 classes)")
        add_text_arguments(parser, submission.DEFAULT_MAX_MB)

    def synthesize(self, out, *, seed, options):
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        return subset.subset(source, manifests, out, hidden, link=link, verify=options.get("verify", "header"))

    def hidden_ground_truth(self, hidden: Path) -> Path:
        return Path(hidden) / TEST_GT

    def build_model(self, model: dict, subset_dir: Path):
        from . import data, models

        return models.build(model["name"], len(data.class_names(subset_dir)), **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from . import data

        train, val, opened = data.training_sets(Path(subset_dir), recipe)
        workers = recipe.get("workers", workers)
        return Loaders(
            train=data.make_loader(train, recipe, shuffle=True, workers=workers, generator=generator, drop_last=len(train) > recipe["batch_size"]),
            val=None if val is None else data.make_loader(val, recipe, shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(p) for p in opened],
        )

    def training_loss(self, model, batch, recipe, device):
        import torch.nn.functional as F

        from . import data

        clips, targets = batch
        logits = model(data.model_input(clips, device))
        return F.cross_entropy(logits, targets.to(device, non_blocking=True), label_smoothing=recipe.get("label_smoothing", 0.0))

    def evaluate(self, model, loader, device) -> dict[str, float]:
        from . import predict

        return predict.evaluate(model, loader, device)

    def predict(self, models_, subset_dir, recipe, out, *, device, workers) -> dict:
        from . import predict

        return predict.predict(models_, Path(subset_dir), recipe, Path(out), device=device, workers=recipe.get("workers", workers))

    def validate(self, gt, submission_path, options) -> list[str]:
        names = scoring.class_names(Path(gt), options)
        truth = read_labelled_clips(Path(gt), len(names))
        return submission.parse_strict(Path(submission_path), truth, len(names),
                                       max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB)[1]

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, options=options)


TASK = ActionRecognition()
