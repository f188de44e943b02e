"""Object detection on DelftBikes (VIPriors 2021, 2022 and 2023): 22 bike parts, from scratch.

Three editions ran the same data, submission format and scorer; they differ in the toolkit's
`data/valset_generate.py`, whose 2021/2022 version wrote the val dict as the new train file
(fixed in 2023, commit e4ad91b): `subset` reproduces the edition it is given. The models,
loaders, inference and COCO evaluation are the detection task's (imported, not copied).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import ClassVar

from viprepro.errors import UserError
from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, PerClass, SubsetResult, Task, add_verify_argument, loader_workers


class DetectionDelftBikes(Task):
    name = "detection_delftbikes"
    metrics = (
        MetricSpec("ap", "AP @ 0.50-0.95"),
        MetricSpec("ap50", "AP @ 0.50"),
        MetricSpec("ap75", "AP @ 0.75"),
        MetricSpec("ap_small", "AP @ 0.50-0.95 (small)"),
        MetricSpec("ap_medium", "AP @ 0.50-0.95 (medium)"),
        MetricSpec("ap_large", "AP @ 0.50-0.95 (large)"),
    )
    submission_filename = "submission.zip"
    val_metric = "ap"
    per_class = PerClass("per_category_ap", "AP")
    figure_kinds = ("examples",)
    model_names = ModelNames(
        own=("cascadercnn_fpn", "fasterrcnn_resnet18_fpn", "fasterrcnn_resnet50_fpn", "fasterrcnn_small_fpn"),
        torchvision_module="detection",
    )
    editions: ClassVar[dict[str, str]] = {
        "2021": "1d8b23703e17c14dab9899b986827dd01c583b59",
        "2022": "8490d7a40785ca7ce2e04a3de25da0855661868b",
        "2023": "bb46e38ce0912e3a90f67233dcbe632703549f2a",
    }
    default_edition: ClassVar[str] = "2023"

    full_scale_splits = {"train": 7_000, "val": 1_000, "test": 2_000}  # DelftBikes after valset_generate.py

    def cost_probe(self, spec, device, pixel_limit):
        from viprepro.tasks.detection import Detection
        from viprepro.tasks.detection_delftbikes.data import NUM_CLASSES

        return Detection.cost_probe(self, spec, device, pixel_limit, classes=NUM_CLASSES)

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_verify_argument(parser)
        parser.add_argument(
            "--listing-order",
            dest="listing_order",
            default="sorted",
            help="order of os.listdir(train) that valset_generate.py takes its first valset_size images from: "
            "'sorted' (default, the same everywhere), 'filesystem' (this file system's order), or a text file naming "
            "the train images in order, one a line; recorded in the subset manifest",
        )
        parser.add_argument(
            "--valset-size",
            dest="valset_size",
            type=int,
            default=None,
            help="images moved to val (default: manifests/valset_generate.json, else the official 1000)",
        )

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        from viprepro.tasks.detection import TASK as DETECTION

        DETECTION.add_score_arguments(parser)

    def synthesize(self, out, *, seed, options):
        from viprepro.files.schemas_io import validate
        from viprepro.tasks.detection_delftbikes import synth

        options = {k: v for k, v in options.items() if k != "edition"}  # the data is the same in every edition
        validate(options, self.schema("synthetic"), where="synthetic options")  # fills the defaults
        if options["absent_fraction"] + options["occluded_fraction"] + options["damaged_fraction"] > 1:
            raise UserError("absent_fraction + occluded_fraction + damaged_fraction must not exceed 1", where="synthetic options")
        if options["valset_size"] >= options["train_images"]:
            raise UserError("valset_size must be smaller than train_images (some must stay in train)", where="synthetic options")
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.detection_delftbikes import subset

        edition = self.edition_of(options)
        return subset.subset(
            Path(source),
            Path(manifests),
            Path(out),
            Path(hidden),
            link=link,
            edition=edition,
            commit=self.editions[edition],
            order=options.get("listing_order") or "sorted",
            size=options.get("valset_size"),
            verify=options.get("verify", "header"),
        )

    def hidden_ground_truth(self, hidden: Path) -> Path:
        from viprepro.tasks.detection_delftbikes.subset import GT_NAME

        return Path(hidden) / GT_NAME

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.tasks.detection_delftbikes.subset import write_val_ground_truth

        return write_val_ground_truth(Path(subset_dir), Path(out))

    def val_ground_truth(self, folder: Path) -> Path:
        from viprepro.tasks.detection_delftbikes.subset import VAL_GT_NAME

        return Path(folder) / VAL_GT_NAME

    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.detection import models
        from viprepro.tasks.detection_delftbikes.data import NUM_CLASSES

        return models.build(model["name"], NUM_CLASSES, **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.tasks.detection.data import training_loaders
        from viprepro.tasks.detection_delftbikes import data

        sets = data.training_sets(Path(subset_dir), recipe)
        return training_loaders(sets, recipe, workers=loader_workers(recipe, workers), generator=generator)

    def training_loss(self, model, batch, recipe, device):
        from viprepro.tasks.detection import TASK as DETECTION

        return DETECTION.training_loss(model, batch, recipe, device)

    def evaluate(self, model, loader, device) -> dict[str, float]:
        from viprepro.tasks.detection import TASK as DETECTION

        return DETECTION.evaluate(model, loader, device)

    def predict(self, models, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.detection_delftbikes import predict

        return predict.predict(
            models, Path(subset_dir), recipe, Path(out), device=device, workers=loader_workers(recipe, workers), split=split
        )

    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.detection.submission import JsonLimits
        from viprepro.tasks.detection_delftbikes import scoring

        return scoring.problems(Path(gt), Path(submission_path), JsonLimits.from_options(options))

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.detection.submission import JsonLimits
        from viprepro.tasks.detection_delftbikes import scoring

        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, limits=JsonLimits.from_options(options))

    def figure_data(self, kind, gt, submission_path, subset):
        if kind != "examples":
            return super().figure_data(kind, gt, submission_path, subset)
        from viprepro.tasks.detection_delftbikes import examples

        return examples.examples(Path(gt), Path(submission_path), Path(subset))


TASK = DetectionDelftBikes()
