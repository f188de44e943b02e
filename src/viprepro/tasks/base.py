"""The interface every challenge task implements.

A task knows its dataset (how to synthesise it in the original layout and how to cut the
official subset out of it), its models, how to train and predict, its submission format and
its official scorer. Everything shared between tasks (the training engine, checkpoints,
seeding, tracking, provenance, verdicts) lives outside `tasks/` and only calls this interface.
"""

from __future__ import annotations

import abc
import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # torch only in annotations: scoring need not import it
    import torch


@dataclass(frozen=True)
class MetricSpec:
    """A score the task reports. `key` is its name in scores.json."""

    key: str
    label: str
    higher_is_better: bool = True


@dataclass
class SubsetResult:
    """What `Task.subset` produced: the public subset, the hidden ground truth, the manifest."""

    subset_dir: Path
    hidden_dir: Path
    manifest: dict
    notes: list[str] = field(default_factory=list)


@dataclass
class Loaders:
    """Data for one training run; `val` is None when the recipe trains on train+val."""

    train: Iterable
    val: Iterable | None
    train_size: int
    opened_files: list[str] = field(default_factory=list)


class Task(abc.ABC):
    """One VIPriors challenge. Subclasses live in `viprepro.tasks.<name>`."""

    name: str
    #: metrics written to scores.json; the first is the one the challenge ranks by.
    metrics: tuple[MetricSpec, ...]
    #: file name of the submission inside a submission's results folder.
    submission_filename: str
    #: metric the training loop reports on the validation split (key of `evaluate`).
    val_metric: str

    @property
    def main_metric(self) -> MetricSpec:
        return self.metrics[0]

    # --- command-line options each task adds to the generic commands -------------------
    def add_synth_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Task-specific size options of `viprepro synth` (seed and out are generic)."""

    def add_subset_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Task-specific options of `viprepro subset`."""

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Task-specific options of `viprepro score` and `viprepro validate`."""

    # --- data ---------------------------------------------------------------------------
    @abc.abstractmethod
    def synthesize(self, out: Path, *, seed: int, options: dict[str, Any]) -> dict:
        """Write a synthetic copy of the original dataset and its official manifests.

        Returns a dict with at least `source` (the dataset root to pass to `subset`) and
        `manifests` (the folder holding the official manifests), both inside `out`.
        """

    @abc.abstractmethod
    def subset(self, source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, options: dict[str, Any]) -> SubsetResult:
        """Cut the official subset out of `source` into `out`; test ground truth into `hidden`.

        Never modifies `source`. Writes the subset manifest into `out`.
        """

    @abc.abstractmethod
    def hidden_ground_truth(self, hidden: Path) -> Path:
        """The file (or folder) in `hidden` that `score --gt` takes."""

    @abc.abstractmethod
    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        """Write the val split's ground truth, in the official format of the test ground
        truth, into the new folder `out`; returns `val_ground_truth(out)`.

        Val labels are public in the challenge (they ship with the subset), so this reads
        the subset only; a claim on val is scored against it like a test claim against the
        hidden ground truth."""

    @abc.abstractmethod
    def val_ground_truth(self, folder: Path) -> Path:
        """The file (or folder) in a folder `write_val_ground_truth` wrote that `score --gt` takes."""

    # --- models and training --------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, model: dict, subset_dir: Path) -> torch.nn.Module:
        """A freshly initialised model (never pre-trained) for the model section of a spec."""

    @abc.abstractmethod
    def loaders(self, subset_dir: Path, recipe: dict, *, seed: int, workers: int, generator: torch.Generator) -> Loaders:
        """Training and validation data for a recipe."""

    @abc.abstractmethod
    def training_loss(self, model: torch.nn.Module, batch, recipe: dict, device: torch.device) -> torch.Tensor:
        """Loss of one training batch (the task's criterion, mixing, ...)."""

    @abc.abstractmethod
    def evaluate(self, model: torch.nn.Module, loader, device: torch.device) -> dict[str, float]:
        """Validation metrics; must contain `val_metric`."""

    # --- prediction and submission --------------------------------------------------------
    @abc.abstractmethod
    def predict(self, models: list[torch.nn.Module], subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int,
                split: str = "test") -> dict:
        """Predict `split` (`test`, or `val` for a claim on val) with an ensemble (one model =
        ensemble of one) into `out`, a submission file in the official format; both splits
        go through the same ensemble averaging, test-time augmentation and inference
        resolution. Returns a summary (counts, timings)."""

    # --- validation and scoring -----------------------------------------------------------
    @abc.abstractmethod
    def validate(self, gt: Path, submission: Path, options: dict[str, Any]) -> list[str]:
        """Every problem of a submission against the ground truth (empty list: valid)."""

    @abc.abstractmethod
    def score(self, gt: Path, submission: Path, out: Path, *, mode: str, options: dict[str, Any]) -> dict:
        """Score a submission; write the official text file and scores.json into `out`.

        `mode` is `official` (the official scorer's numbers and quirks) or `strict` (refuse
        anything `validate` objects to). Returns the scores dict written to scores.json.
        """
