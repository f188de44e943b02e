"""Semantic segmentation on MiniCity, the Cityscapes subset (VIPriors 2020, task 2).

Submissions are zips of `<int>.png` label-id maps; the hidden folder holds the test ground
truth under its Cityscapes names plus test.p, which `score` finds there by itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, PerClass, SubsetResult, Task, loader_workers


class Segmentation(Task):
    name = "segmentation"
    metrics = (
        MetricSpec("iou_class", "IoU Class"),
        MetricSpec("iiou_class", "iIoU Class"),
        MetricSpec("iou_category", "IoU Category"),
        MetricSpec("iiou_category", "iIoU Category"),
        MetricSpec("accuracy", "Accuracy"),
    )
    submission_filename = "submission.zip"
    val_metric = "iou_class"
    per_class = PerClass("per_class_iou", "IoU")
    prepares_ground_truth = True  # viprepro.tasks.segmentation.prepared
    figure_kinds = ("examples",)
    model_names = ModelNames(
        own=("unet", "fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"),
        torchvision_module="segmentation",
    )
    loss_keys = {
        "cross_entropy": {"name", "class_weights"},
        "ohem_cross_entropy": {"name", "class_weights", "ohem_threshold", "ohem_min_kept"},
        "dice": {"name"},
        "cross_entropy_dice": {"name", "class_weights", "dice_weight"},
    }

    full_scale_splits = {"train": 200, "val": 100, "test": 200}  # MiniCity
    # Unlabeled images a pseudo_label stage may train on (viprepro.specs.stages), from the official rules.
    unlabeled_images = {"val": "toolkit README.md @ 656a8d0, FAQ: 'Is it allowed to train our model on the validation data? Yes.'"}
    unlabeled_refused = {
        "test": "the test images are Cityscapes validation images; semantic-segmentation/README.md @ 656a8d0 forbids using "
        "the original Cityscapes dataset in training, and no rule allows training on the test inputs"
    }

    def cost_probe(self, spec, device, pixel_limit):
        import torch

        from viprepro.tasks.segmentation import models
        from viprepro.tasks.segmentation.labels import NUM_TRAIN_CLASSES
        from viprepro.training.estimate import Probe, scaled_image

        recipe = spec["recipe"]
        crop, test = recipe.get("crop_size") or recipe["train_size"], recipe["test_size"]
        th, tw, train_scale = scaled_image(*crop, pixel_limit)
        ih, iw, infer_scale = scaled_image(*test, pixel_limit)
        return Probe(
            self.name,
            lambda: models.build(spec["model"]["name"], **spec["model"].get("kwargs", {})),
            lambda b: (torch.randn(b, 3, th, tw), torch.randint(0, NUM_TRAIN_CLASSES, (b, th, tw))),
            lambda b: torch.randn(b, 3, ih, iw).to(device),
            train_scale,
            infer_scale,
            f"train crop {crop[0]}x{crop[1]}, test {test[0]}x{test[1]}",
        )

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--test-names",
            type=Path,
            default=None,
            help="test.p mapping <int>.png predictions back to Cityscapes names (default: GT/test.p if present)",
        )
        parser.add_argument("--workers", type=int, default=0, help="processes decoding images (0: one per CPU core)")
        parser.add_argument(
            "--prepared-gt",
            type=Path,
            default=None,
            metavar="DIR",
            help="folder keeping the ground truth decoded once (a subfolder per version of it), beside the hidden folder and "
            "as secret: made on first use, checked against the ground truth's SHA-256 on every use, made again when stale "
            "(default: prepared in a temporary folder for this run only)",
        )
        from viprepro.files.submission_io import add_zip_arguments

        add_zip_arguments(parser)

    def shrink_recipe(self, recipe) -> None:
        from viprepro.specs.scale import shrink_pair

        recipe["train_size"] = shrink_pair(recipe["train_size"], 64)
        recipe["test_size"] = shrink_pair(recipe["test_size"], 64)
        if recipe.get("crop_size"):
            recipe["crop_size"] = [min(c, t) for c, t in zip(shrink_pair(recipe["crop_size"], 48), recipe["train_size"])]
        loss = recipe.get("loss", {})
        if loss.get("name") == "ohem_cross_entropy":  # a pixel count: sized to the tiny images
            loss["ohem_min_kept"] = min(loss["ohem_min_kept"], 256)

    def _recipe(self, recipe: dict) -> dict:
        """The recipe with its segmentation defaults filled in (specs from load_spec have them)."""
        from viprepro.errors import UserError
        from viprepro.files.schemas_io import validate

        validate(recipe, self.schema("recipe"), where="recipe", own_keys_only=True)
        crop, size = recipe["crop_size"], recipe["train_size"]
        if crop and (crop[0] > size[0] or crop[1] > size[1]):
            raise UserError(f"crop_size {crop} is larger than train_size {size}", where="recipe")
        return recipe

    def synthesize(self, out, *, seed, options):
        from viprepro.tasks.segmentation import synth

        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.segmentation import subset

        return subset.subset(source, manifests, out, hidden, link=link)

    def hidden_ground_truth(self, hidden: Path) -> Path:
        return Path(hidden)

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.tasks.segmentation.subset import write_val_ground_truth

        return write_val_ground_truth(Path(subset_dir), Path(out))

    def val_ground_truth(self, folder: Path) -> Path:
        return Path(folder)

    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.segmentation import models

        return models.build(model["name"], **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.tasks.segmentation import data

        recipe = self._recipe(recipe)
        train, val, opened = data.training_sets(Path(subset_dir), recipe)
        workers = loader_workers(recipe, workers)
        return Loaders(
            train=data.make_loader(train, recipe, shuffle=True, workers=workers, generator=generator),
            val=None if val is None else data.make_loader(val, recipe, shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(p) for p in opened],
        )

    def training_loss(self, model, batch, recipe, device):
        from viprepro.tasks.segmentation import losses

        images, masks = batch
        logits = model(images.to(device, non_blocking=True))
        return losses.criterion(recipe.get("loss", {}))(logits, masks.to(device, non_blocking=True))

    def evaluate(self, model, loader, device) -> dict[str, float]:
        """Mean IoU over the 19 classes at the model's resolution (the baseline's iouCalc)."""
        import torch

        from viprepro.tasks.segmentation.labels import NUM_TRAIN_CLASSES

        n = NUM_TRAIN_CLASSES + 1
        conf = torch.zeros(n * n, dtype=torch.int64)
        for images, masks in loader:
            predicted = model(images.to(device)).argmax(dim=1).cpu()
            conf += torch.bincount((masks * n + predicted).flatten(), minlength=n * n)
        conf = conf.view(n, n)[:NUM_TRAIN_CLASSES].double()  # void ground truth is ignored
        tp = conf.diagonal()
        denom = conf.sum(dim=1) + conf[:, :NUM_TRAIN_CLASSES].sum(dim=0) - tp
        iou = tp / denom
        return {
            "iou_class": float(iou[denom > 0].mean()) if (denom > 0).any() else float("nan"),
            "accuracy": float(tp.sum() / conf.sum()) if conf.sum() else float("nan"),
        }

    def predict(self, models_, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.segmentation import predict

        return predict.predict(models_, Path(subset_dir), self._recipe(recipe), Path(out), device=device, split=split)

    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.segmentation import scoring

        return scoring.validate(Path(gt), Path(submission_path), options)

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.segmentation import scoring

        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, options=options)

    def figure_data(self, kind, gt, submission_path, subset):
        if kind != "examples":
            return super().figure_data(kind, gt, submission_path, subset)
        from viprepro.tasks.segmentation import examples

        return examples.examples(Path(gt), Path(submission_path), Path(subset))


TASK = Segmentation()
