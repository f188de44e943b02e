"""Instance segmentation of basketball scenes (VIPriors 2021-2023, Synergy Sports "DeepSports").

Two classes, human (1) and ball (2); COCO-format annotations (`train.json`, `val.json`,
`test_nolabels.json`); the submission is a zip of one JSON list of
`{image_id, category_id, segmentation (compressed RLE, counts a UTF-8 string), score}`;
the score is COCO mask AP (`segm`) as the toolkit's `evaluate.py` computes it. The task
shares COCO plumbing with `viprepro.tasks.detection` (evaluation, bounded JSON reading,
image decoding, the small backbone) by importing it.

The three editions ran the same `baseline.py`, `evaluate.py` and `coco_eval.py` (identical
blobs at the three commits); only the README's wording and server address changed.
Every module is imported where it is used: scoring never imports torch.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import ClassVar

from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, PerClass, SubsetResult, Task, add_verify_argument, loader_workers


class InstanceSegmentation(Task):
    name = "instance_segmentation"
    metrics = (
        MetricSpec("ap", "mask AP @ 0.50-0.95"),
        MetricSpec("ap50", "mask AP @ 0.50"),
        MetricSpec("ap75", "mask AP @ 0.75"),
        MetricSpec("ap_small", "mask AP @ 0.50-0.95 (small)"),
        MetricSpec("ap_medium", "mask AP @ 0.50-0.95 (medium)"),
        MetricSpec("ap_large", "mask AP @ 0.50-0.95 (large)"),
    )
    submission_filename = "submission.zip"
    val_metric = "ap"
    per_class = PerClass("per_category_ap", "mask AP")
    figure_kinds = ("examples",)
    model_names = ModelNames(own=("maskrcnn_resnet50_fpn", "maskrcnn_small_fpn"), torchvision_module="detection")

    #: toolkit commit of each edition (VIPriors/vipriors-challenges-toolkit).
    editions: ClassVar[dict[str, str]] = {
        "2021": "1d8b23703e17c14dab9899b986827dd01c583b59",
        "2022": "8490d7a40785ca7ce2e04a3de25da0855661868b",
        "2023": "bb46e38ce0912e3a90f67233dcbe632703549f2a",
    }
    default_edition: ClassVar[str] = "2023"

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_verify_argument(parser)

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        from viprepro.files.submission_io import add_json_arguments
        from viprepro.tasks.instance_segmentation.submission import DEFAULT_MAX_MB

        add_json_arguments(
            parser,
            DEFAULT_MAX_MB,
            size_note=", and larger JSON inside the zip",
            item="an instance",
            item_size="an RLE mask of a full-HD image is a few KB",
        )

    def synthesize(self, out, *, seed, options):
        from viprepro.files.schemas_io import validate
        from viprepro.tasks.instance_segmentation import synth

        self.edition_of(options)  # every edition ships the same data layout
        options = {k: v for k, v in options.items() if k != "edition"}
        validate(options, self.schema("synthetic"), where="synthetic options")  # fills the defaults
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.instance_segmentation import subset

        return subset.subset(
            source, manifests, out, hidden, link=link, verify=options.get("verify", "header"), edition=self.edition_of(options)
        )

    def hidden_ground_truth(self, hidden: Path) -> Path:
        from viprepro.tasks.instance_segmentation.layout import GT_NAME

        return Path(hidden) / GT_NAME

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.tasks.instance_segmentation.subset import write_val_ground_truth

        return write_val_ground_truth(Path(subset_dir), Path(out))

    def val_ground_truth(self, folder: Path) -> Path:
        from viprepro.tasks.instance_segmentation.layout import VAL_GT_NAME

        return Path(folder) / VAL_GT_NAME

    # --- models and training --------------------------------------------------------------
    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.detection import data
        from viprepro.tasks.instance_segmentation import models

        return models.build(model["name"], data.num_classes(subset_dir), **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.tasks.detection.data import training_loaders
        from viprepro.tasks.instance_segmentation import data

        sets = data.training_sets(Path(subset_dir), recipe)
        return training_loaders(sets, recipe, workers=loader_workers(recipe, workers), generator=generator)

    def training_loss(self, model, batch, recipe, device):
        images, targets = batch
        images = [image.to(device, non_blocking=True) for image in images]
        keys = ("boxes", "labels", "masks")
        targets = [{**t, **{k: t[k].to(device) for k in keys}} for t in targets]
        return sum(model(images, targets).values())

    def evaluate(self, model, loader, device) -> dict[str, float]:
        from viprepro.tasks.instance_segmentation import predict, scoring

        instances = predict.segment([model], loader, device)
        stats, _ = scoring.evaluate_masks(copy.deepcopy(loader.dataset.document), instances)
        return {"ap": float(stats[0]), "ap50": float(stats[1])}

    def predict(self, models, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.instance_segmentation import predict

        return predict.predict(
            models, Path(subset_dir), recipe, Path(out), device=device, workers=loader_workers(recipe, workers), split=split
        )

    # --- validation and scoring -----------------------------------------------------------
    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.instance_segmentation import layout, submission

        self.edition_of(options)
        return submission.read_instances(
            layout.read_coco(gt), submission_path, mode="strict", limits=submission.Limits.from_options(options)
        )[1]

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.instance_segmentation import scoring, submission

        return scoring.score(
            Path(gt),
            Path(submission_path),
            Path(out),
            mode=mode,
            limits=submission.Limits.from_options(options),
            edition=self.edition_of(options),
        )

    def figure_data(self, kind, gt, submission_path, subset):
        if kind != "examples":
            return super().figure_data(kind, gt, submission_path, subset)
        from viprepro.tasks.instance_segmentation import examples

        return examples.examples(Path(gt), Path(submission_path), Path(subset))


TASK = InstanceSegmentation()
