"""Person re-identification on SynergyReID (VIPriors 2021, re-identification track)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import ClassVar

from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, SubsetResult, Task, add_verify_argument, loader_workers


class Reidentification(Task):
    name = "reidentification"
    metrics = (
        MetricSpec("map", "mAP"),
        MetricSpec("cmc1", "CMC top-1"),
        MetricSpec("cmc5", "CMC top-5"),
        MetricSpec("cmc10", "CMC top-10"),
    )
    submission_filename = "submission.csv"  # the rules name it submission.<ext>; the baseline writes distance_matrix.csv
    val_metric = "map"
    figure_kinds = ("examples",)
    model_names = ModelNames(own=("openreid_resnet", "small_reid"), libraries=())
    loss_keys = {"cross_entropy": {"name", "label_smoothing"}}
    editions: ClassVar[dict[str, str]] = {"2021": "1d8b23703e17c14dab9899b986827dd01c583b59"}
    default_edition: ClassVar[str] = "2021"

    full_scale_splits = {"train": 8_569, "val": 960, "test": 9_171}  # README: 8569 train; val 50 + 910; test 468 + 8703

    def cost_probe(self, spec, device, pixel_limit):
        import torch

        from viprepro.tasks.reidentification import models
        from viprepro.training.estimate import Probe, scaled_image

        recipe, classes = spec["recipe"], 486
        h, w, scale = scaled_image(recipe["input_height"], recipe["input_width"], pixel_limit)
        images = lambda b: torch.randn(b, 3, h, w)  # noqa: E731
        return Probe(
            self.name,
            lambda: models.build(spec["model"]["name"], classes, **spec["model"].get("kwargs", {})),
            lambda b: (images(b), torch.randint(0, classes, (b,))),
            lambda b: images(b).to(device),
            scale,
            scale,
            f"crops {recipe['input_height']}x{recipe['input_width']}",
        )

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_verify_argument(parser)

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        from viprepro.files.submission_io import add_text_arguments
        from viprepro.tasks.reidentification.submission import DEFAULT_MAX_MB

        add_text_arguments(parser, DEFAULT_MAX_MB)

    def shrink_recipe(self, recipe) -> None:
        recipe["input_height"], recipe["input_width"] = 32, 16

    def synthesize(self, out, *, seed, options):
        from viprepro.tasks.reidentification import synth

        options = dict(options)
        self.edition_of(options)
        options.pop("edition", None)
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.reidentification import subset

        edition = self.edition_of(options)
        return subset.subset(
            source,
            manifests,
            out,
            hidden,
            link=link,
            verify=options.get("verify", "header"),
            edition=edition,
            commit=self.editions[edition],
        )

    def hidden_ground_truth(self, hidden: Path) -> Path:
        from viprepro.tasks.reidentification.layout import TEST_IDENTITIES

        return Path(hidden) / TEST_IDENTITIES

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.files.fileio import atomic_path
        from viprepro.tasks.reidentification.layout import FOLDERS, ROLES, listing, parse_person_name, table_text, val_order

        rows = []
        for role in ROLES:
            folder = Path(subset_dir) / FOLDERS[("val", role)]
            for name in val_order(listing(folder), folder):
                pid = parse_person_name(name, path=folder / name)[0]
                rows.append((role, pid, pid, name))
        with atomic_path(out) as staged:
            staged.mkdir(parents=True)
            self.val_ground_truth(staged).write_text(table_text(rows), encoding="utf-8")
        return self.val_ground_truth(out)

    def val_ground_truth(self, folder: Path) -> Path:
        from viprepro.tasks.reidentification.layout import VAL_IDENTITIES

        return Path(folder) / VAL_IDENTITIES

    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.reidentification import data, models

        return models.build(model["name"], len(data.identities(Path(subset_dir))), **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.tasks.reidentification import data

        train, val, size, opened = data.loaders(Path(subset_dir), recipe, workers=loader_workers(recipe, workers), generator=generator)
        return Loaders(train=train, val=val, train_size=size, opened_files=[str(p) for p in opened])

    def training_loss(self, model, batch, recipe, device):
        import torch.nn.functional as F

        images, targets = batch
        logits = model(images.to(device, non_blocking=True))
        return F.cross_entropy(
            logits, targets.to(device, non_blocking=True), label_smoothing=recipe.get("loss", {}).get("label_smoothing", 0.0)
        )

    def evaluate(self, model, loader, device) -> dict[str, float]:
        from viprepro.tasks.reidentification import predict, scoring

        distances, query_ids, gallery_ids = predict.distance_matrix([model], loader, device)
        metrics = scoring.evaluate(distances, query_ids, gallery_ids)
        return {key: metrics[key] for key in self.metric_keys}

    def predict(self, models_, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.reidentification import predict

        return predict.predict(
            models_, Path(subset_dir), recipe, Path(out), device=device, workers=loader_workers(recipe, workers), split=split
        )

    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.reidentification import submission
        from viprepro.tasks.reidentification.layout import read_identities

        self.edition_of(options)
        return submission.validate(
            read_identities(Path(gt)), Path(submission_path), max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB
        )

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.reidentification import scoring, submission

        return scoring.score(
            Path(gt),
            Path(submission_path),
            Path(out),
            mode=mode,
            max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB,
            edition=self.edition_of(options),
        )

    def figure_data(self, kind, gt, submission_path, subset):
        from viprepro.tasks.reidentification import examples

        if kind != "examples":
            return super().figure_data(kind, gt, submission_path, subset)
        return examples.examples(Path(gt), Path(submission_path), Path(subset))


TASK = Reidentification()
