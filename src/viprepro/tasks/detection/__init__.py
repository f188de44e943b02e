"""Object detection on the MS COCO 2017 subset (VIPriors 2020, task 3).

The modules that need torch and torchvision (data, models, predict) are imported where
they are used: scoring 500,000 detections takes about 1.3 GB by itself, and the two
libraries would add most of another gigabyte to a step that never runs a model.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from ... import submission_io
from ...schemas_io import validate
from ..base import Loaders, MetricSpec, SubsetResult, Task
from . import scoring, submission, subset, synth
from .manifests import read_instances


class Detection(Task):
    name = "detection"
    metrics = (
        MetricSpec("ap", "AP @ 0.50-0.95"),
        MetricSpec("ap50", "AP @ 0.50"),
        MetricSpec("ap75", "AP @ 0.75"),
        MetricSpec("ap_small", "AP @ 0.50-0.95 (small)"),
        MetricSpec("ap_medium", "AP @ 0.50-0.95 (medium)"),
        MetricSpec("ap_large", "AP @ 0.50-0.95 (large)"),
    )
    submission_filename = "submission.json"
    val_metric = "ap"

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--verify", choices=("none", "header", "full"), default="header",
                            help="check source images before linking: header (fast, catches truncation) or full decode")

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--max-submission-mb", dest="max_submission_mb", type=float, default=submission.DEFAULT_MAX_MB,
                            help=f"refuse larger submission files (default {submission.DEFAULT_MAX_MB:g}; a valid file needs about "
                                 "6x its size in memory to validate, 15x to score with COCOeval; hostile files no more)")
        parser.add_argument("--max-json-depth", dest="max_json_depth", type=int, default=submission_io.DEFAULT_MAX_DEPTH,
                            help=f"refuse JSON nested deeper (default {submission_io.DEFAULT_MAX_DEPTH}; a detection needs 3 levels)")
        parser.add_argument("--max-item-kb", dest="max_item_kb", type=float, default=submission_io.DEFAULT_MAX_ITEM_BYTES / 1024,
                            help=f"refuse, unparsed, list items longer than this (default {submission_io.DEFAULT_MAX_ITEM_BYTES // 1024}; "
                                 "a detection is about 100 bytes)")

    def synthesize(self, out, *, seed, options):
        options = dict(options)
        validate(options, "synthetic.detection.schema.yaml", where="synthetic options")  # fills the defaults
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        return subset.subset(source, manifests, out, hidden, link=link, verify=options.get("verify", "header"))

    def hidden_ground_truth(self, hidden: Path) -> Path:
        return Path(hidden) / subset.GT_NAME

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        return subset.write_val_ground_truth(Path(subset_dir), Path(out))

    def val_ground_truth(self, folder: Path) -> Path:
        return Path(folder) / subset.VAL_GT_NAME

    def build_model(self, model: dict, subset_dir: Path):
        from . import data, models

        return models.build(model["name"], data.num_classes(subset_dir), **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from . import data

        train, val = data.training_sets(Path(subset_dir), recipe)
        workers = recipe.get("workers", workers)
        opened = [f for part in getattr(train, "datasets", [train]) for f in part.files] + (val.files if val else [])
        return Loaders(
            train=data.make_loader(train, recipe["batch_size"], shuffle=True, workers=workers, generator=generator),
            val=None if val is None else data.make_loader(val, recipe.get("eval_batch_size", 8), shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(f) for f in opened],
        )

    def training_loss(self, model, batch, recipe, device):
        images, targets = batch
        images = [image.to(device, non_blocking=True) for image in images]
        targets = [{**t, "boxes": t["boxes"].to(device), "labels": t["labels"].to(device)} for t in targets]
        return sum(model(images, targets).values())

    def evaluate(self, model, loader, device) -> dict[str, float]:
        from . import predict

        detections = predict.detect([model], loader, device)
        stats, _ = scoring.evaluate_boxes(copy.deepcopy(loader.dataset.document), detections)
        return {"ap": float(stats[0]), "ap50": float(stats[1])}

    def predict(self, models, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from . import predict

        return predict.predict(models, Path(subset_dir), recipe, Path(out), device=device, workers=recipe.get("workers", workers),
                               split=split)

    def validate(self, gt, submission_path, options) -> list[str]:
        return submission.read_detections(read_instances(gt), submission_path, mode="strict",
                                          limits=submission.JsonLimits.from_options(options))[1]

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode,
                             limits=submission.JsonLimits.from_options(options))


TASK = Detection()
