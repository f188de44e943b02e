"""Object detection on the MS COCO 2017 subset (VIPriors 2020, task 3).

Every module is imported where it is used (torch and torchvision by data, models, predict):
scoring 500,000 detections takes about 1.3 GB by itself, and the two libraries would add
most of another gigabyte to a step that never runs a model.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, PerClass, SubsetResult, Task, add_verify_argument, loader_workers


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
    per_class = PerClass("per_category_ap", "AP")
    figure_kinds = ("examples",)
    model_names = ModelNames(
        own=("cascadercnn_fpn", "fasterrcnn_resnet18_fpn", "fasterrcnn_resnet50_fpn", "fasterrcnn_small_fpn"),
        torchvision_module="detection",
    )

    full_scale_splits = {"train": 5_873, "val": 4_946, "test": 4_952}  # the VIPriors COCO subset
    # Unlabeled images a pseudo_label stage may train on (viprepro.specs.stages), from the official rules.
    unlabeled_images = {"val": "toolkit README.md @ 656a8d0, FAQ: 'Is it allowed to train our model on the validation data? Yes.'"}
    unlabeled_refused = {
        "test": "the test images are MS COCO 2017 validation images, and object-detection/README.md @ 656a8d0 says "
        "'DO NOT train on MS COCO validation data'"
    }

    def cost_probe(self, spec, device, pixel_limit, *, classes: int = 91):
        """Probe of a detector spec on 4:3 images with 7 boxes each; `classes` includes the
        background (91 for COCO's ids; tasks built on this one pass theirs)."""
        import statistics

        import torch

        from viprepro.tasks.detection import models
        from viprepro.training.estimate import Probe, scaled_image

        kwargs = dict(spec["model"].get("kwargs", {}))
        min_size = kwargs.get("min_size", 800)
        min_size = statistics.mean(min_size) if isinstance(min_size, (list, tuple)) else min_size
        max_size = kwargs.get("max_size", 1333)
        height, width = round(min_size), min(round(min_size * 4 / 3), max_size)  # COCO's usual 4:3
        h, w, scale = scaled_image(height, width, pixel_limit)
        shrink = h / height
        kwargs["min_size"] = (
            [round(m * shrink) for m in kwargs["min_size"]]
            if isinstance(kwargs.get("min_size"), (list, tuple))
            else round(kwargs.get("min_size", 800) * shrink)
        )
        kwargs["max_size"] = round(max_size * shrink)

        def target() -> dict:
            xy = torch.rand(7, 2) * torch.tensor([w * 0.7, h * 0.7])
            wh = 16 + torch.rand(7, 2) * torch.tensor([w * 0.25, h * 0.25])
            return {"boxes": torch.cat([xy, xy + wh], dim=1), "labels": torch.randint(1, classes, (7,))}

        return Probe(
            self.name,
            lambda: models.build(spec["model"]["name"], classes, **kwargs),
            lambda b: ([torch.rand(3, h, w) for _ in range(b)], [target() for _ in range(b)]),
            lambda b: [torch.rand(3, h, w).to(device) for _ in range(b)],
            scale,
            scale,
            f"images {height}x{width} (7 boxes each)",
        )

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_verify_argument(parser)

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        from viprepro.files.submission_io import add_json_arguments
        from viprepro.tasks.detection.submission import DEFAULT_MAX_MB

        add_json_arguments(
            parser,
            DEFAULT_MAX_MB,
            size_note=" (a valid file needs about 6x its size in memory to validate, 15x to score with COCOeval; hostile files no more)",
            item="a detection",
            item_size="a detection is about 100 bytes",
        )

    def synthesize(self, out, *, seed, options):
        from viprepro.files.schemas_io import validate
        from viprepro.tasks.detection import synth

        options = dict(options)
        validate(options, self.schema("synthetic"), where="synthetic options")  # fills the defaults
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.detection import subset

        return subset.subset(source, manifests, out, hidden, link=link, verify=options.get("verify", "header"))

    def hidden_ground_truth(self, hidden: Path) -> Path:
        from viprepro.tasks.detection.subset import GT_NAME

        return Path(hidden) / GT_NAME

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.tasks.detection.subset import write_val_ground_truth

        return write_val_ground_truth(Path(subset_dir), Path(out))

    def val_ground_truth(self, folder: Path) -> Path:
        from viprepro.tasks.detection.subset import VAL_GT_NAME

        return Path(folder) / VAL_GT_NAME

    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.detection import data, models

        return models.build(model["name"], data.num_classes(subset_dir), **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.tasks.detection import data

        sets = data.training_sets(Path(subset_dir), recipe)
        return data.training_loaders(sets, recipe, workers=loader_workers(recipe, workers), generator=generator)

    def training_loss(self, model, batch, recipe, device):
        images, targets = batch
        images = [image.to(device, non_blocking=True) for image in images]
        targets = [{**t, "boxes": t["boxes"].to(device), "labels": t["labels"].to(device)} for t in targets]
        return sum(model(images, targets).values())

    def evaluate(self, model, loader, device) -> dict[str, float]:
        from viprepro.tasks.detection import predict, scoring

        detections = predict.detect([model], loader, device)
        stats, _ = scoring.evaluate_boxes(copy.deepcopy(loader.dataset.document), detections)
        return {"ap": float(stats[0]), "ap50": float(stats[1])}

    def predict(self, models, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.detection import predict

        return predict.predict(
            models, Path(subset_dir), recipe, Path(out), device=device, workers=loader_workers(recipe, workers), split=split
        )

    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.detection import submission
        from viprepro.tasks.detection.manifests import read_instances

        return submission.read_detections(
            read_instances(gt), submission_path, mode="strict", limits=submission.JsonLimits.from_options(options)
        )[1]

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.detection import scoring, submission

        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, limits=submission.JsonLimits.from_options(options))

    def figure_data(self, kind, gt, submission_path, subset):
        if kind != "examples":
            return super().figure_data(kind, gt, submission_path, subset)
        from viprepro.tasks.detection import examples

        return examples.examples(Path(gt), Path(submission_path), Path(subset))


TASK = Detection()
