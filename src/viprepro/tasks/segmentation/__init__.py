"""Semantic segmentation on MiniCity, the Cityscapes subset (VIPriors 2020, task 2).

Submissions are zips of `<int>.png` label-id maps; the hidden folder holds the test ground
truth under its Cityscapes names plus test.p, which `score` finds there by itself.

The modules that need torch and torchvision (data, losses, models, predict) are imported where
they are used, as in the detection task: synthesising, subsetting and scoring never run a
model, and torch and torchvision cost a pipeline job seconds of start-up and half a gigabyte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import UserError
from ...schemas_io import validate as validate_schema
from ...submission_io import add_zip_arguments
from ..base import Loaders, MetricSpec, SubsetResult, Task
from . import scoring, subset, synth
from .labels import NUM_TRAIN_CLASSES

RECIPE_SCHEMA = "recipe.segmentation.schema.yaml"


def _recipe(recipe: dict) -> dict:
    """The recipe with its segmentation defaults filled in (specs from load_spec have them)."""
    validate_schema(recipe, RECIPE_SCHEMA, where="recipe", own_keys_only=True)
    crop, size = recipe["crop_size"], recipe["train_size"]
    if crop and (crop[0] > size[0] or crop[1] > size[1]):
        raise UserError(f"crop_size {crop} is larger than train_size {size}", where="recipe")
    return recipe


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

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--test-names", type=Path, default=None,
                            help="test.p mapping <int>.png predictions back to Cityscapes names (default: GT/test.p if present)")
        parser.add_argument("--workers", type=int, default=0, help="processes decoding images (0: one per CPU core)")
        add_zip_arguments(parser)

    def synthesize(self, out, *, seed, options):
        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        return subset.subset(source, manifests, out, hidden, link=link)

    def hidden_ground_truth(self, hidden: Path) -> Path:
        return Path(hidden)

    def build_model(self, model: dict, subset_dir: Path):
        from . import models

        return models.build(model["name"], **model.get("kwargs", {}))

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from . import data

        recipe = _recipe(recipe)
        train, val, opened = data.training_sets(Path(subset_dir), recipe)
        workers = recipe.get("workers") or workers
        return Loaders(
            train=data.make_loader(train, recipe, shuffle=True, workers=workers, generator=generator),
            val=None if val is None else data.make_loader(val, recipe, shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(p) for p in opened],
        )

    def training_loss(self, model, batch, recipe, device):
        from . import losses

        images, masks = batch
        logits = model(images.to(device, non_blocking=True))
        return losses.criterion(recipe.get("loss", {}))(logits, masks.to(device, non_blocking=True))

    def evaluate(self, model, loader, device) -> dict[str, float]:
        """Mean IoU over the 19 classes at the model's resolution (the baseline's iouCalc)."""
        import torch

        n = NUM_TRAIN_CLASSES + 1
        conf = torch.zeros(n * n, dtype=torch.int64)
        for images, masks in loader:
            predicted = model(images.to(device)).argmax(dim=1).cpu()
            conf += torch.bincount((masks * n + predicted).flatten(), minlength=n * n)
        conf = conf.view(n, n)[:NUM_TRAIN_CLASSES].double()  # void ground truth is ignored
        tp = conf.diagonal()
        denom = conf.sum(dim=1) + conf[:, :NUM_TRAIN_CLASSES].sum(dim=0) - tp
        iou = tp / denom
        return {"iou_class": float(iou[denom > 0].mean()) if (denom > 0).any() else float("nan"),
                "accuracy": float(tp.sum() / conf.sum()) if conf.sum() else float("nan")}

    def predict(self, models_, subset_dir, recipe, out, *, device, workers) -> dict:
        from . import predict

        return predict.predict(models_, Path(subset_dir), _recipe(recipe), Path(out), device=device)

    def validate(self, gt, submission_path, options) -> list[str]:
        return scoring.validate(Path(gt), Path(submission_path), options)

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, options=options)


TASK = Segmentation()
