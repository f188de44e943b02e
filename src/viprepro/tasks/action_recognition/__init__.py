"""Action recognition on mod-UCF101, the UCF-101 subset of VIPriors 2020 (task 4)."""

from __future__ import annotations

import argparse
from pathlib import Path

from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, PerClass, SubsetResult, Task, add_verify_argument, loader_workers


class ActionRecognition(Task):
    name = "action_recognition"
    metrics = (MetricSpec("top1", "Top-1 accuracy"), MetricSpec("top3", "Top-3 accuracy"), MetricSpec("top5", "Top-5 accuracy"))
    submission_filename = "submission.txt"
    val_metric = "top1"
    per_class = PerClass("per_class_accuracy", "accuracy")
    figure_kinds = ("examples", "confusion_matrix")
    model_names = ModelNames(own=("r3d_18", "mc3_18", "r2plus1d_18", "tiny3d"), torchvision_module="video")

    full_scale_splits = {"train": 4_795, "val": 4_742, "test": 3_783}  # mod-UCF101
    num_classes_full = 101  # classes of the real dataset (`viprepro estimate` builds the model with them)
    # Unlabeled videos a pseudo_label stage may train on (viprepro.specs.stages), from the official rules.
    unlabeled_images = {"val": "toolkit README.md @ 656a8d0, FAQ: 'Is it allowed to train our model on the validation data? Yes.'"}
    unlabeled_refused = {
        "test": "action-recognition/README.md @ 656a8d0 allows training on the train and validation subsets only "
        "('Do not use the original distribution of the UCF101 dataset'); no rule allows training on the test inputs"
    }

    def inference_views(self, recipe):
        return recipe.get("test_clips", 1)

    def cost_probe(self, spec, device, pixel_limit):
        import math

        import torch

        from viprepro.tasks.action_recognition import data, models
        from viprepro.training.estimate import Probe, scaled_image

        recipe, classes = spec["recipe"], self.num_classes_full
        frames, crop = recipe["frames_per_clip"], recipe["crop_size"]
        crop = crop if isinstance(crop, int) else crop[0]
        probed = frames if frames * crop * crop <= pixel_limit else max(4, math.ceil(frames * pixel_limit / (crop * crop)))
        side, _, spatial = scaled_image(crop, crop, pixel_limit / probed)
        scale = frames / probed * spatial
        clips = lambda b: torch.randint(0, 256, (b, 3, probed, side, side), dtype=torch.uint8)  # noqa: E731
        return Probe(
            self.name,
            lambda: models.build(spec["model"]["name"], classes, **spec["model"].get("kwargs", {})),
            lambda b: (clips(b), torch.randint(0, classes, (b,))),
            lambda b: data.model_input(clips(b), device),
            scale,
            scale,
            f"clips of {frames} frames at {crop}x{crop}",
        )

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        from viprepro.tasks.action_recognition.videocheck import LEVELS  # PyAV: only when the subset command is built

        add_verify_argument(parser, checked="the selected clips", choices=LEVELS)

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--class-index",
            type=Path,
            default=None,
            help="mod-ucf101-classInd.txt giving the classes (default: the one beside --gt, else 101 classes)",
        )
        from viprepro.files.submission_io import add_text_arguments
        from viprepro.tasks.action_recognition.submission import DEFAULT_MAX_MB

        add_text_arguments(parser, DEFAULT_MAX_MB)

    def shrink_recipe(self, recipe) -> None:
        from viprepro.specs.scale import shrink_pair

        recipe["frames_per_clip"] = min(recipe["frames_per_clip"], 4)
        recipe["frame_stride"] = min(recipe["frame_stride"], 2)
        recipe["test_clips"] = min(recipe["test_clips"], 2)
        if recipe.get("resize"):
            recipe["resize"] = shrink_pair(recipe["resize"], 20)
        if recipe.get("crop_size"):
            recipe["crop_size"] = min(recipe["crop_size"], 14)

    def synthesize(self, out, *, seed, options):
        from viprepro.tasks.action_recognition import synth

        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.action_recognition import subset

        return subset.subset(source, manifests, out, hidden, link=link, verify=options.get("verify", "header"))

    def hidden_ground_truth(self, hidden: Path) -> Path:
        from viprepro.tasks.action_recognition.annotations import TEST_GT

        return Path(hidden) / TEST_GT

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.tasks.action_recognition.subset import write_val_ground_truth

        return write_val_ground_truth(Path(subset_dir), Path(out))

    def val_ground_truth(self, folder: Path) -> Path:
        from viprepro.tasks.action_recognition.subset import VAL_GT

        return Path(folder) / VAL_GT

    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.action_recognition import models
        from viprepro.tasks.action_recognition.annotations import class_names

        return models.build(model["name"], len(class_names(subset_dir)), **model.get("kwargs", {}))

    def training_sets(self, subset_dir: Path, recipe: dict):
        """(train dataset, val dataset or None, clips opened): the part of `loaders` that knows the layout."""
        from viprepro.tasks.action_recognition import data

        return data.training_sets(Path(subset_dir), recipe)

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.tasks.action_recognition import data

        train, val, opened = self.training_sets(Path(subset_dir), recipe)
        workers = loader_workers(recipe, workers)
        return Loaders(
            train=data.make_loader(
                train, recipe, shuffle=True, workers=workers, generator=generator, drop_last=len(train) > recipe["batch_size"]
            ),
            val=None if val is None else data.make_loader(val, recipe, shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(p) for p in opened],
        )

    def training_loss(self, model, batch, recipe, device):
        import torch.nn.functional as F

        from viprepro.tasks.action_recognition import data

        clips, targets = batch
        logits = model(data.model_input(clips, device))
        return F.cross_entropy(logits, targets.to(device, non_blocking=True), label_smoothing=recipe.get("label_smoothing", 0.0))

    def evaluate(self, model, loader, device) -> dict[str, float]:
        from viprepro.tasks.action_recognition import predict

        return predict.evaluate(model, loader, device)

    def predict(self, models_, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.action_recognition import predict

        return predict.predict(
            models_, Path(subset_dir), recipe, Path(out), device=device, workers=loader_workers(recipe, workers), split=split
        )

    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.action_recognition import scoring, submission
        from viprepro.tasks.action_recognition.annotations import read_labelled_clips

        names = scoring.class_names(Path(gt), options)
        truth = read_labelled_clips(Path(gt), len(names))
        return submission.parse_strict(
            Path(submission_path), truth, len(names), max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB
        )[1]

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.action_recognition import scoring

        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, options=options)

    def figure_data(self, kind, gt, submission_path, subset):
        from viprepro.tasks.action_recognition import examples

        readers = {"examples": examples.examples, "confusion_matrix": examples.labels}
        if kind not in readers:
            return super().figure_data(kind, gt, submission_path, subset)
        return readers[kind](Path(gt), Path(submission_path), Path(subset))


TASK = ActionRecognition()
