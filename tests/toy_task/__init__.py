"""A fifth task that lives outside viprepro: two Gaussian blobs, a linear classifier, a CSV.

It exists to prove that a task is one package plus one config entry: tests/toy_task/config.yaml
names this package (`datasets.toy.package: toy_task`) and the whole pipeline (synth -> subset
-> train -> predict -> score -> verdict -> certificate) runs it without any file of viprepro
knowing it. Everything here uses only the task interface and viprepro's shared helpers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from viprepro.tasks.base import Loaders, MetricSpec, ModelNames, PerClass, SubsetResult, Task, loader_workers

GT_NAME = "test_gt.csv"
HEADER = ("id", "label")
SPLITS = ("train", "val", "test")


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def csv_text(fields: tuple[str, ...], rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows(rows)
    return buffer.getvalue()


def write_rows(path: Path, fields: tuple[str, ...], rows: list[tuple]) -> None:
    from viprepro.files.fileio import write_text

    write_text(path, csv_text(fields, rows))


class Toy(Task):
    name = "toy"
    metrics = (MetricSpec("accuracy", "Accuracy"),)
    submission_filename = "submission.csv"
    val_metric = "accuracy"
    per_class = PerClass("per_class_accuracy", "accuracy")
    figure_kinds = ("confusion_matrix",)
    model_names = ModelNames(own=("linear",), libraries=())

    # --- data -------------------------------------------------------------------------------
    def synthesize(self, out, *, seed, options):
        """Two 2-D Gaussian blobs; `manifests/splits.csv` says which point is in which split."""
        import numpy as np

        from viprepro.files.fileio import atomic_path
        from viprepro.files.schemas_io import validate

        options = dict(options)
        validate(options, self.schema("synthetic"), where="synthetic options")
        rng = np.random.default_rng(seed)
        n = options["points_per_split"]
        rows, splits = [], []
        for split in SPLITS:
            labels = rng.integers(0, 2, n)
            points = rng.normal(0.0, 1.0, (n, 2)) + np.where(labels[:, None] == 1, options["separation"], -options["separation"])
            for label, (x, y) in zip(labels, points):
                point_id = f"p{len(rows):04d}"
                rows.append((point_id, f"{x:.6f}", f"{y:.6f}", int(label)))
                splits.append((point_id, split))
        with atomic_path(Path(out)) as staged:
            (staged / "source").mkdir(parents=True)
            (staged / "manifests").mkdir()
            write_rows(staged / "source" / "points.csv", ("id", "x", "y", "label"), rows)
            write_rows(staged / "manifests" / "splits.csv", ("id", "split"), splits)
        return {"source": Path(out) / "source", "manifests": Path(out) / "manifests"}

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        """One CSV per split; the test split loses its labels, which go to the hidden folder."""
        from viprepro.tasks.subsetting import cut

        return cut(self.name, source, manifests, out, hidden, link=link, plan=self._plan, check=lambda plan, read: None)

    def _plan(self, source: Path, manifests: Path):
        from viprepro.errors import UserError
        from viprepro.tasks.subsetting import SubsetPlan, written

        points = {row["id"]: row for row in read_rows(source / "points.csv")}
        members = {split: [] for split in SPLITS}
        for row in read_rows(manifests / "splits.csv"):
            if row["id"] not in points or row["split"] not in members:
                raise UserError(f"unknown point or split in {row}", path=manifests / "splits.csv")
            members[row["split"]].append(points[row["id"]])
        return SubsetPlan(
            splits={
                "train": [
                    written(
                        "train.csv", csv_text(("id", "x", "y", "label"), [(p["id"], p["x"], p["y"], p["label"]) for p in members["train"]])
                    )
                ],
                "val": [
                    written("val.csv", csv_text(("id", "x", "y", "label"), [(p["id"], p["x"], p["y"], p["label"]) for p in members["val"]]))
                ],
                "test": [written("test.csv", csv_text(("id", "x", "y"), [(p["id"], p["x"], p["y"]) for p in members["test"]]))],
            },
            hidden=[written(GT_NAME, csv_text(HEADER, [(p["id"], p["label"]) for p in members["test"]]))],
        )

    def hidden_ground_truth(self, hidden: Path) -> Path:
        return Path(hidden) / GT_NAME

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        """The val labels in the hidden ground truth's format."""
        from viprepro.files.fileio import atomic_path

        rows = read_rows(Path(subset_dir) / "val.csv")
        with atomic_path(Path(out)) as staged:
            staged.mkdir(parents=True)
            write_rows(staged / GT_NAME, HEADER, [(r["id"], r["label"]) for r in rows])
        return self.val_ground_truth(out)

    def val_ground_truth(self, folder: Path) -> Path:
        return Path(folder) / GT_NAME

    # --- model and training -----------------------------------------------------------------
    def build_model(self, model: dict, subset_dir: Path):
        import torch

        return torch.nn.Linear(2, 2)

    def _dataset(self, subset_dir: Path, split: str):
        import torch
        from torch.utils.data import TensorDataset

        rows = read_rows(Path(subset_dir) / f"{split}.csv")
        features = torch.tensor([[float(r["x"]), float(r["y"])] for r in rows])
        labels = torch.tensor([int(r.get("label", 0)) for r in rows])
        return TensorDataset(features, labels), [r["id"] for r in rows]

    def loaders(self, subset_dir, recipe, *, seed, workers, generator) -> Loaders:
        from viprepro.training.loading import seeded_loader

        workers = loader_workers(recipe, workers)
        train, _ = self._dataset(subset_dir, "train")
        val, _ = self._dataset(subset_dir, "val")
        return Loaders(
            train=seeded_loader(train, recipe["batch_size"], shuffle=True, workers=workers, generator=generator),
            val=seeded_loader(val, recipe["batch_size"], shuffle=False, workers=workers),
            train_size=len(train),
            opened_files=[str(Path(subset_dir) / f"{s}.csv") for s in ("train", "val")],
        )

    def training_loss(self, model, batch, recipe, device):
        import torch.nn.functional as F

        features, labels = batch
        return F.cross_entropy(model(features.to(device)), labels.to(device))

    def evaluate(self, model, loader, device) -> dict[str, float]:
        correct = total = 0
        for features, labels in loader:
            correct += int((model(features.to(device)).argmax(dim=1).cpu() == labels).sum())
            total += len(labels)
        return {"accuracy": correct / max(1, total)}

    def predict(self, models, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        import torch

        dataset, ids = self._dataset(subset_dir, split)
        features = dataset.tensors[0].to(device)
        with torch.no_grad():
            probabilities = sum(torch.softmax(model(features), dim=1) for model in models) / len(models)
        predicted = probabilities.argmax(dim=1).cpu().tolist()
        write_rows(Path(out), HEADER, list(zip(ids, predicted)))
        return {"predictions": len(ids)}

    # --- validation and scoring ---------------------------------------------------------------
    def _labels(self, path: Path) -> tuple[dict[str, int], list[str]]:
        """`id -> label` of a submission or ground-truth CSV, and every problem of the file."""
        problems, labels = [], {}
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError) as exc:
            return {}, [f"cannot read the file ({exc})"]
        if not rows or tuple(rows[0]) != HEADER:
            problems.append(f"line 1: the header must be {','.join(HEADER)}")
        for number, row in enumerate(rows[1:], start=2):
            if len(row) != 2 or row[1] not in ("0", "1"):
                problems.append(f"line {number}: expected `<id>,<0 or 1>`")
            elif row[0] in labels:
                problems.append(f"line {number}: id {row[0]!r} appears twice")
            else:
                labels[row[0]] = int(row[1])
        return labels, problems

    def validate(self, gt, submission_path, options) -> list[str]:
        truth, _ = self._labels(Path(gt))
        predicted, problems = self._labels(Path(submission_path))
        missing = sorted(set(truth) - set(predicted))
        extra = sorted(set(predicted) - set(truth))
        if missing:
            problems.append(f"{len(missing)} test id(s) have no prediction, e.g. {missing[0]}")
        if extra:
            problems.append(f"{len(extra)} id(s) are not test ids, e.g. {extra[0]}")
        return problems

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.errors import ValidationFailed
        from viprepro.files.scores_io import write_scores

        problems = self.validate(gt, submission_path, options)
        if problems:
            raise ValidationFailed(Path(submission_path), problems)
        truth, _ = self._labels(Path(gt))
        predicted, _ = self._labels(Path(submission_path))
        hits = {point: predicted[point] == label for point, label in truth.items()}
        per_class = {
            str(c): sum(hits[p] for p, label in truth.items() if label == c) / n
            for c in (0, 1)
            if (n := sum(1 for label in truth.values() if label == c))
        }
        accuracy = sum(hits.values()) / len(hits)
        scores = {"task": self.name, "mode": mode, "accuracy": accuracy, "n_scored": len(hits), "per_class_accuracy": per_class}
        write_scores(out, "scores.txt", f"Accuracy: {accuracy:.8f}\n", scores)
        return scores

    def figure_data(self, kind, gt, submission_path, subset):
        if kind != "confusion_matrix":
            return super().figure_data(kind, gt, submission_path, subset)
        import numpy as np

        from viprepro.report.examples import Labels

        truth, _ = self._labels(Path(gt))
        predicted, _ = self._labels(Path(submission_path))
        shared = [p for p in truth if p in predicted]
        return Labels(np.array([truth[p] for p in shared]), np.array([predicted[p] for p in shared]), ["blob 0", "blob 1"])


TASK = Toy()
