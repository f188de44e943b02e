"""Action recognition on Kinetics400ViPriors (VIPriors 2021 and 2022).

The mod-UCF101 task (`action_recognition`) with the Kinetics400ViPriors layout, annotations,
submission and scorer: models, clip loaders, training loss, validation metric, video checks
and inference are that task's, imported, not copied.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import ClassVar

from viprepro.tasks.action_recognition import ActionRecognition
from viprepro.tasks.base import SubsetResult, loader_workers

#: toolkit commits the editions are read at (vipriors-challenges-toolkit, action-recognition/)
EDITIONS = {"2021": "1d8b23703e17c14dab9899b986827dd01c583b59", "2022": "8490d7a40785ca7ce2e04a3de25da0855661868b"}
DEFAULT_EDITION = "2022"


def has_corrupted_list(edition: str) -> bool:
    """2022 added kinetics400ViPriors_corrupted_videos.txt (data check, scorer `-corr`)."""
    return edition != "2021"


class ActionRecognitionKinetics(ActionRecognition):
    name = "action_recognition_kinetics"
    editions: ClassVar[dict[str, str]] = EDITIONS
    default_edition: ClassVar[str] = DEFAULT_EDITION
    submission_filename = "submission.txt"
    full_scale_splits = {"train": 40_000, "val": 10_000, "test": 20_000}  # Kinetics400ViPriors (2022 blocks 323)
    num_classes_full = 400
    # The 2021-2022 rules, not mod-UCF101's (which this class otherwise inherits).
    unlabeled_images: ClassVar[dict[str, str]] = {
        "val": "toolkit README.md @ 1d8b237, FAQ (all challenges): 'Is it allowed to train our model on the validation data? Yes.'"
    }
    unlabeled_refused: ClassVar[dict[str, str]] = {
        "test": "toolkit README.md @ 1d8b237 allows the provided training and validation data only; no rule allows training on the test inputs"
    }

    def schema(self, kind: str) -> Path:
        """The recipe keys are mod-UCF101's (same loaders); the synthetic options are this package's."""
        if kind == "recipe":
            import viprepro.tasks.action_recognition as ucf

            return Path(ucf.__file__).parent / "recipe.schema.yaml"
        return super().schema(kind)

    def add_score_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--class-index", type=Path, default=None, help="clsIdx.csv giving the classes (default: the one beside --gt)")
        parser.add_argument(
            "--corrupted",
            type=Path,
            default=None,
            help="edition 2022: the list of corrupted videos, the scorer's -corr (default: the one beside --gt)",
        )
        parser.add_argument(
            "--draw-seed",
            type=int,
            default=0,
            help="official mode: seed of Python's random for the fallbacks the official scorer draws unseeded (default 0)",
        )
        from viprepro.files.submission_io import add_text_arguments
        from viprepro.tasks.action_recognition_kinetics.submission import DEFAULT_MAX_MB

        add_text_arguments(parser, DEFAULT_MAX_MB)

    def synthesize(self, out, *, seed, options):
        from viprepro.tasks.action_recognition_kinetics import synth

        return synth.synthesize(Path(out), seed=seed, options=options)

    def subset(self, source, manifests, out, hidden, *, link, options) -> SubsetResult:
        from viprepro.tasks.action_recognition_kinetics import subset

        return subset.subset(
            Path(source),
            Path(manifests),
            Path(out),
            Path(hidden),
            link=link,
            edition=self.edition_of(options),
            verify=options.get("verify", "header"),
        )

    def hidden_ground_truth(self, hidden: Path) -> Path:
        from viprepro.tasks.action_recognition_kinetics.annotations import TEST_GT

        return Path(hidden) / TEST_GT

    def write_val_ground_truth(self, subset_dir: Path, out: Path) -> Path:
        from viprepro.tasks.action_recognition_kinetics.subset import write_val_ground_truth

        return write_val_ground_truth(Path(subset_dir), Path(out))

    def val_ground_truth(self, folder: Path) -> Path:
        from viprepro.tasks.action_recognition_kinetics.subset import VAL_GT

        return Path(folder) / VAL_GT

    def build_model(self, model: dict, subset_dir: Path):
        from viprepro.tasks.action_recognition import models
        from viprepro.tasks.action_recognition_kinetics.annotations import class_names

        return models.build(model["name"], len(class_names(subset_dir)), **model.get("kwargs", {}))

    def training_sets(self, subset_dir: Path, recipe: dict):
        from viprepro.tasks.action_recognition_kinetics.data import training_sets

        return training_sets(Path(subset_dir), recipe)

    def predict(self, models_, subset_dir, recipe, out, *, device, workers, split="test") -> dict:
        from viprepro.tasks.action_recognition_kinetics import predict

        return predict.predict(
            models_, Path(subset_dir), recipe, Path(out), device=device, workers=loader_workers(recipe, workers), split=split
        )

    def validate(self, gt, submission_path, options) -> list[str]:
        from viprepro.tasks.action_recognition_kinetics import scoring, submission

        names, truth, blocked = scoring.ground_truth(Path(gt), options)
        return submission.parse_strict(
            Path(submission_path), list(truth), blocked, len(names), max_mb=options.get("max_submission_mb") or submission.DEFAULT_MAX_MB
        )[1]

    def score(self, gt, submission_path, out, *, mode, options) -> dict:
        from viprepro.tasks.action_recognition_kinetics import scoring

        return scoring.score(Path(gt), Path(submission_path), Path(out), mode=mode, options=options)

    def figure_data(self, kind, gt, submission_path, subset):
        from viprepro.tasks.action_recognition_kinetics import examples

        readers = {"examples": examples.examples, "confusion_matrix": examples.labels}
        if kind not in readers:
            raise KeyError(f"task {self.name} draws no figure {kind!r}")
        return readers[kind](Path(gt), Path(submission_path), Path(subset))


TASK = ActionRecognitionKinetics()
