"""ImageNet classification on the `imagenet_50` subset (VIPriors 2020, task 1)."""

from __future__ import annotations

import argparse
from pathlib import Path

from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, PerClass, SubsetResult, Task, add_verify_argument, loader_workers


class Classification(Task):
    name = "classification"
    metrics = (MetricSpec("top1", "Top-1 accuracy"),)
    submission_filename = "submission.csv"
    val_metric = "top1"
    per_class = PerClass("per_class_accuracy", "accuracy")
    figure_kinds = ("examples", "confusion_matrix")
    model_names = ModelNames(
        own=("resnet18", "resnet34", "resnet50", "resnet50_fullconv", "resnet_small"),
        libraries=("torchvision", "timm"),
        torchvision_module="",
    )
    _device_transforms: dict = {}  # recipe (by id) -> device_decode.DeviceTransform of its gpu_decode loader
    loss_keys = {
        "cross_entropy": {"name", "label_smoothing"},
        "soft_target_cross_entropy": {"name"},
        "focal": {"name", "gamma"},
        "cosine": {"name", "xent"},
        "focal_cosine": {"name", "gamma", "alpha", "xent"},
    }

    full_scale_splits = {"train": 50_000, "val": 50_000, "test": 50_000}  # imagenet_50: 50 classes x 1,000 images per split
    # Unlabeled images a pseudo_label stage may train on (viprepro.specs.stages), from the official rules.
    unlabeled_images = {"val": "toolkit README.md @ 656a8d0, FAQ: 'Is it allowed to train our model on the validation data? Yes.'"}
    unlabeled_refused = {
        "test": "the test images are ImageNet 2012 validation images, and image-classification/readme.md @ 656a8d0 says "
        "'DO NOT train on Imagenet validation data'"
    }

    def cost_probe(self, spec, device, pixel_limit):
        import torch

        from viprepro.tasks.classification import models
        from viprepro.training.estimate import Probe, scaled_image

        size, classes = spec["recipe"]["input_size"], 1000
        h, w, scale = scaled_image(size, size, pixel_limit)
        images = lambda b: torch.randn(b, 3, h, w)  # noqa: E731
        return Probe(
            self.name,
            lambda: models.build(spec["model"]["name"], classes, **spec["model"].get("kwargs", {})),
            lambda b: (images(b), torch.randint(0, classes, (b,))),
            lambda b: images(b).to(device),
            scale,
            scale,
            f"input {size}x{size}",
        )

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_verify_argument(parser)

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--num-classes", type=int, default=None, help="label range 0..N-1 (default: the largest label in the ground truth + 1)"
        )
        from viprepro.files.submission_io import add_text_arguments
        from viprepro.tasks.classification.submission import DEFAULT_MAX_MB

        add_text_arguments(parser, DEFAULT_MAX_MB)

    def check_recipe_keys(self, recipe, *, path=None) -> None:
        from viprepro.errors import UserError

        augment = recipe.get("augment")
        if isinstance(augment, dict) and augment.get("random_erasing_count", 1) != 1 and not augment.get("random_erasing_mode"):
            raise UserError(
                "random_erasing_count needs random_erasing_mode (timm's RandomErasing)",
                path=path,
                where="key 'recipe.augment.random_erasing_count'",
            )
        if recipe.get("gpu_decode") and recipe.get("cache_decoded"):
            raise UserError(
                "set either cache_decoded (decode once, on the CPU) or gpu_decode (decode every batch on the device), not both",
                path=path,
                where="key 'recipe.gpu_decode'",
            )
        if recipe.get("gpu_decode") and isinstance(augment, dict) and augment.get("timm_policy"):
            raise UserError(
                "timm's augmentation policies work on PIL images on the CPU: they cannot follow gpu_decode",
                path=path,
                where="key 'recipe.augment.timm_policy'",
            )

    def shrink_recipe(self, recipe) -> None:
        full = recipe["input_size"]
        recipe["input_size"] = 32
        if recipe.get("eval_resize"):
            recipe["eval_resize"] = max(32, int(round(recipe["eval_resize"] * 32 / full)))

    def synthesize(self, out, *, seed, options):
        from viprepro.tasks.classification import synth

        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.classification import subset

        return subset.subset(source, manifests, out, hidden, link=link, verify=options.get("verify", "header"))

    def hidden_ground_truth(self, hidden: Path) -> Path:
        from viprepro.tasks.classification.subset import GT_NAME

        return Path(hidden) / GT_NAME

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.files.fileio import atomic_path
        from viprepro.tasks.classification.predict import split_images
        from viprepro.tasks.classification.subset import write_ground_truth

        _, ids, labels = split_images(Path(subset_dir), "val")
        with atomic_path(out) as staged:
            staged.mkdir(parents=True)
            write_ground_truth(self.val_ground_truth(staged), ids, labels)
        return self.val_ground_truth(out)

    def val_ground_truth(self, folder: Path) -> Path:
        from viprepro.tasks.classification.subset import VAL_GT_NAME

        return Path(folder) / VAL_GT_NAME

    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.classification import models
        from viprepro.tasks.classification.submission import class_names

        return models.build(model["name"], len(class_names(subset_dir)), **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.tasks.classification import data, device_decode

        train, val, opened = data.training_sets(Path(subset_dir), recipe)
        workers = loader_workers(recipe, workers)
        mixer = data.batch_mixer(recipe, len(data.class_names(subset_dir)))
        collate = data.MixingCollate(mixer) if mixer else None
        if recipe.get("gpu_decode"):  # the workers read bytes; training_loss decodes on the device
            train, _ = device_decode.training_set(Path(subset_dir), recipe)
            collate = device_decode.collate
            self._device_transforms[id(recipe)] = device_decode.DeviceTransform(recipe, mixer)
        return Loaders(
            train=data.make_loader(
                train,
                recipe,
                shuffle=True,
                workers=workers,
                generator=generator,
                drop_last=len(train) > recipe["batch_size"],
                collate_fn=collate,
            ),
            val=None if val is None else data.make_loader(val, recipe, shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(p) for p in opened],
        )

    def label_files(self, subset_dir):
        from viprepro.tasks.classification import unlabeled

        return unlabeled.label_files(Path(subset_dir))

    def unlabeled_loader(self, images, recipe, views, *, workers, generator, shuffle):
        from viprepro.tasks.classification import unlabeled

        return unlabeled.unlabeled_loader(
            images, recipe, views, workers=loader_workers(recipe, workers), generator=generator, shuffle=shuffle
        )

    def pseudo_labelled_loaders(self, subset_dir, recipe, pseudo, images, *, seed, workers, generator):
        from viprepro.tasks.classification import unlabeled

        loaders = self.loaders(subset_dir, recipe, seed=seed, workers=workers, generator=generator)
        return unlabeled.add_pseudo_labels(loaders, images, recipe, pseudo)

    def probe_loaders(self, subset_dir, recipe, *, workers):
        from viprepro.tasks.classification import unlabeled

        return unlabeled.probe_loaders(subset_dir, recipe, workers=loader_workers(recipe, workers))

    def training_loss(self, model, batch, recipe, device):
        from viprepro.tasks.classification import device_decode, losses

        if isinstance(batch, device_decode.EncodedBatch):
            images, targets = self._device_transforms[id(recipe)](batch, device)
        else:
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

    def predict(self, models_, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.classification import predict

        return predict.predict(
            models_, Path(subset_dir), recipe, Path(out), device=device, workers=loader_workers(recipe, workers), split=split
        )

    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.classification import submission

        truth = submission.read_ground_truth(gt)
        num_classes = options.get("num_classes") or max(truth.values()) + 1
        return submission.validate(
            truth, submission_path, num_classes, max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB
        )

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.classification import scoring, submission

        return scoring.score(
            Path(gt),
            Path(submission_path),
            Path(out),
            mode=mode,
            num_classes=options.get("num_classes"),
            max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB,
        )

    def figure_data(self, kind, gt, submission_path, subset):
        from viprepro.tasks.classification import examples

        readers = {"examples": examples.examples, "confusion_matrix": examples.labels}
        if kind not in readers:
            return super().figure_data(kind, gt, submission_path, subset)
        return readers[kind](Path(gt), Path(submission_path), Path(subset))


TASK = Classification()
