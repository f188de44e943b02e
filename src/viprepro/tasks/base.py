"""The interface every challenge task implements.

A task knows its dataset (how to synthesise it in the original layout and how to cut the
official subset out of it), its models, how to train and predict, its submission format and
its official scorer. Everything shared between tasks (the training engine, checkpoints,
seeding, tracking, provenance, verdicts, reports) lives outside `tasks/` and only calls this
interface.

A task's package declares what it is (name, metrics, submission file, per-class scores,
option schemas, figures, model names) as class attributes, importing no torch, so that the
Snakefile, spec loading and scoring read it in milliseconds; the methods that train, predict
or read images import the task's heavy modules when they run.
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # torch only in annotations: scoring need not import it
    import torch


def add_verify_argument(parser: argparse.ArgumentParser, *, checked: str = "source images", choices: tuple[str, ...] | None = None) -> None:
    """`viprepro subset --verify`: how thoroughly the files are checked in the one read that hashes
    them; `choices` defaults to the image checks of `files.filestate` (imported here, when the
    subset command is built, because it loads Pillow)."""
    if choices is None:
        from viprepro.files.filestate import LEVELS as choices
    parser.add_argument(
        "--verify",
        choices=choices,
        default="header",
        help=f"check {checked} before linking: header (fast, catches truncation) or full decode",
    )


@dataclass(frozen=True)
class MetricSpec:
    """A score the task reports. `key` is its name in scores.json."""

    key: str
    label: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class ModelNames:
    """The `model.name`s a spec may give (see viprepro.specs.model_names)."""

    #: this project's own builders (in the task's models module).
    own: tuple[str, ...]
    #: libraries whose models are buildable as `<library>/<name>`.
    libraries: tuple[str, ...] = ("torchvision",)
    #: the torchvision.models sub-module listing the task's kind of model ("" = classification).
    torchvision_module: str = ""


@dataclass(frozen=True)
class PerClass:
    """The per-class score a task writes into scores.json (a mapping class -> value)."""

    key: str
    label: str


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
    #: file name of the submission inside a submission's results folder: `submission.<ext>`.
    submission_filename: str
    #: metric the training loop reports on the validation split (key of `evaluate`).
    val_metric: str
    #: the per-class score in scores.json (drawn in the certificate), if any.
    per_class: ClassVar[PerClass | None] = None
    #: figures the scoring step draws from the ground truth (keys of `figure_data`).
    figure_kinds: ClassVar[tuple[str, ...]] = ()
    #: model names a spec may use.
    model_names: ClassVar[ModelNames] = ModelNames(own=())
    #: keys each loss of `recipe.loss.name` reads (viprepro.specs.recipe_keys refuses the others).
    loss_keys: ClassVar[dict[str, set[str]]] = {}
    #: the editions of the challenge the task ran in (2021, 2022, ...), each pinned to the full
    #: commit of the official toolkit its data procedure and scorer are read at; empty for a
    #: task of one edition. The edition a job works to reaches `synthesize`, `subset`,
    #: `validate` and `score` as `options["edition"]`.
    editions: ClassVar[dict[str, str]] = {}
    #: the edition used when a config or command names none (the newest, where they differ).
    default_edition: ClassVar[str | None] = None
    #: the scorer keeps the ground truth decoded between runs in a cache folder (its score option
    #: `--prepared-gt`); the score rules pass the task's folder beside hidden/ (RESULTS['score_cache']).
    prepares_ground_truth: ClassVar[bool] = False

    def edition_of(self, options: dict) -> str | None:
        """The edition a call works to: `options["edition"]` (set by the pipeline and the
        commands), else the default; refused when the task never ran in it."""
        return resolve_edition(self, options.get("edition"), where="edition")

    @property
    def main_metric(self) -> MetricSpec:
        """The metric the challenge ranks by; the leaderboard and the score log lead with it."""
        return self.metrics[0]

    @property
    def metric_keys(self) -> tuple[str, ...]:
        """Keys of every metric a spec may claim, main metric first."""
        return tuple(m.key for m in self.metrics)

    # --- declarations read without torch ----------------------------------------------------
    @property
    def package_dir(self) -> Path:
        import sys

        return Path(sys.modules[type(self).__module__].__file__).parent

    def schema(self, kind: str) -> Path:
        """The option schema `kind` (`recipe`: the task's recipe keys, `synthetic`: the
        synthetic generator's options), a YAML file in the task's package."""
        path = self.package_dir / f"{kind}.schema.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"task {self.name} has no {kind} schema ({path.name} in {self.package_dir})")
        return path

    def check_recipe_keys(self, recipe: dict, *, path=None) -> None:
        """Refuse key combinations of a recipe (as written) that the schema cannot express."""

    def shrink_recipe(self, recipe: dict) -> None:
        """`scale: smoke`: shrink the task's input sizes in place (viprepro.specs.scale does the rest)."""

    #: the official split sizes at full scale (`viprepro estimate` extrapolates to them).
    full_scale_splits: dict[str, int] = {}

    def inference_views(self, recipe: dict) -> int:
        """Forward passes per test sample besides flips (e.g. clips per video)."""
        return 1

    def cost_probe(self, spec: dict, device, pixel_limit: float):
        """For `viprepro estimate`: a `training.estimate.Probe` that builds the spec's model and
        synthetic batches of its input, scaled down to `pixel_limit` pixels a sample."""
        raise NotImplementedError(f"task {self.name} has no cost estimate")

    def figure_data(self, kind: str, gt: Path, submission: Path, subset: Path):
        """What the scoring step draws as figure `kind` (one of `figure_kinds`): for
        `examples` a pair (list of report.figures.Example, note), for `confusion_matrix` a
        report.figures.Labels. Reads the hidden ground truth: only scoring calls it."""
        raise KeyError(f"task {self.name} draws no figure {kind!r}")

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
    def predict(
        self,
        models: list[torch.nn.Module],
        subset_dir: Path,
        recipe: dict,
        out: Path,
        *,
        device: torch.device,
        workers: int,
        split: str = "test",
    ) -> dict:
        """Predict `split` (`test`, or `val` for a claim on val) with an ensemble (one model =
        ensemble of one) into `out`, a submission file in the official format; both splits
        go through the same ensemble averaging, test-time augmentation and inference
        resolution. Returns a summary (counts, timings)."""

    # --- multi-stage recipes (viprepro.specs.stages) ------------------------------------------
    # A task supports stages when it overrides `unlabeled_loader` (spec loading refuses stages
    # otherwise).
    #: unlabeled images the official rules let a submission train on (pseudo_label stages):
    #: split -> the rule that allows it, with its source.
    unlabeled_images: ClassVar[dict[str, str]] = {}
    #: splits refused for that use: split -> why, with the rule's source.
    unlabeled_refused: ClassVar[dict[str, str]] = {}

    def label_files(self, subset_dir: Path) -> list[Path]:
        """Every file or folder of the subset that holds training or val labels (a folder: its listing
        and every path under it): a pretext stage that opens one fails its data-access audit."""
        raise NotImplementedError(f"task {self.name} does not declare its label files")

    def unlabeled_loader(self, images, recipe: dict, views, *, workers: int, generator: torch.Generator | None, shuffle: bool):
        """The images of a split without their labels, read through `images` (an ImageView the job
        built: files named by content digest, viprepro.training.image_view): each sample is
        `views(uint8 CHW image)` (a list of tensors), batched, in the order `images.sampler` gives
        (shuffled drawing only from `generator`, like `loaders`, or the manifest's order). `views`
        None: the task's evaluation transform (one view)."""
        raise NotImplementedError(f"task {self.name} has no unlabeled loader")

    def probe_loaders(self, subset_dir: Path, recipe: dict, *, workers: int):
        """(train, val) loaders of labelled images with the evaluation transform, in a fixed order:
        what the linear probe and k-NN of a pretext stage's backbones read (never training)."""
        raise NotImplementedError(f"task {self.name} has no probe loaders")

    def pseudo_labelled_loaders(
        self, subset_dir: Path, recipe: dict, pseudo: dict, images, *, seed: int, workers: int, generator: torch.Generator
    ):
        """`loaders(...)` whose train set also holds the images `pseudo["indices"]` of the view `images`
        (manifest indices of an unlabeled split) with an earlier stage's confident predictions `pseudo["labels"]`."""
        raise NotImplementedError(f"task {self.name} cannot train on pseudo-labels")

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


def resolve_edition(task: Task, requested: str | None, *, where: str) -> str | None:
    """The edition a job of `task` works to: `requested`, or the task's default when none is
    named. An edition the task never ran in, or any edition for a task of one edition, is
    refused (naming `where` it was asked for) rather than silently scored by another year's rules."""
    from viprepro.errors import UserError

    if not task.editions:
        if requested is not None:
            raise UserError(f"the {task.name} task has a single edition; no edition can be chosen (got {requested!r})", where=where)
        return None
    edition = task.default_edition if requested is None else str(requested)
    if edition not in task.editions:
        if len(task.editions) == 1:
            raise UserError(f"the {task.name} task ran only in the {next(iter(task.editions))} edition, not {edition}", where=where)
        known = ", ".join(sorted(task.editions))
        raise UserError(f"unknown edition {edition!r}: the {task.name} task has no edition {edition!r} (editions: {known})", where=where)
    return edition


def edition_record(task: Task, edition: str | None) -> dict | None:
    """What verdicts and certificates record of an edition: its name and the toolkit commit
    whose data procedure and scorer it follows."""
    if edition is None:
        return None
    return {"edition": edition, "toolkit_commit": task.editions[edition]}


def loader_workers(recipe: dict, workers: int) -> int:
    """Data-loader processes of a job: the recipe's `workers` when it asks for some, else the
    job's own (`--workers`, the config's `data_workers`). Every task reads it this one way."""
    return recipe.get("workers") or workers
