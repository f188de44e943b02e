"""A claim on val is judged on the submission's own val predictions, scored by the task's scorer.

Three things make that true, each tested here: the val ground truth each task writes is what
its scorer reads (a perfect val prediction scores 1.0, and a model's val predictions pass
strict validation against it); the val predictions go through the ensemble like the test
ones; and the verdict takes the val-score files, not the training loop's history.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from testutils import REPO, SMOKE_DATASETS, one_thread, tiny_dataset

from viprepro.files.fileio import read_json, write_json
from viprepro.files.subset_manifest import read_manifest, training_data_digest
from viprepro.specs.load import load_spec
from viprepro.tasks import get_task

_one_thread = pytest.fixture(autouse=True)(one_thread)

# Action recognition's embedded recipe samples 16 frames and crops 28 pixels.
OPTIONS = {**SMOKE_DATASETS, "action_recognition": {**SMOKE_DATASETS["action_recognition"], "frames": 20, "size": 32}}
SPECS = {
    "classification": "classification_resnet_small.yaml",
    "segmentation": "segmentation_tiny_cpu.yaml",
    "detection": "detection_tiny_cpu.yaml",
    "action_recognition": "action_recognition_tiny_cpu.yaml",
}
SCORE_OPTIONS = {"segmentation": {"workers": 1}}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Each task's tiny subset and the val ground truth written from it."""
    made = {}
    for name in SPECS:
        task = get_task(name)
        dataset = tiny_dataset(task, tmp_path_factory.mktemp(name), OPTIONS[name])
        dataset["val_gt"] = task.write_val_ground_truth(dataset["subset"], dataset["root"] / "val_gt")
        made[name] = dataset
    return made


def perfect_val_submission(name: str, gt: Path, out: Path) -> Path:
    """The val ground truth itself, written in the task's submission format."""
    if name == "classification":
        rows = gt.read_text().splitlines()[1:]
        out.write_text("Image IDs,Predictions\n" + "".join(f"{row}\n" for row in rows))
    elif name == "segmentation":
        with zipfile.ZipFile(out, "w") as archive:
            for label in sorted(gt.rglob("*_gtFine_labelIds.png")):
                archive.writestr(label.name.replace("_gtFine_labelIds.png", "_leftImg8bit.png"), label.read_bytes())
    elif name == "detection":
        document = read_json(gt)
        out.write_text(
            json.dumps(
                [
                    {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
                    for a in document["annotations"]
                ]
            )
        )
    else:
        classes = len(gt.with_name("mod-ucf101-classInd.txt").read_text().splitlines())
        lines = []
        for line in gt.read_text().splitlines():
            clip, label = line.split(" ")
            lines.append(" ".join([clip, label, *(str(k) for k in range(1, classes + 1) if k != int(label))]))
        out.write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.parametrize("name", SPECS)
def test_a_perfect_val_prediction_scores_full_marks_with_the_tasks_scorer(name, datasets, tmp_path):
    task = get_task(name)
    gt = datasets[name]["val_gt"]
    assert gt == task.val_ground_truth(datasets[name]["root"] / "val_gt")
    assert not gt.resolve().is_relative_to(datasets[name]["hidden"].resolve())
    submission = perfect_val_submission(name, gt, tmp_path / task.submission_filename)
    scores = task.score(gt, submission, tmp_path / "scores", mode="strict", options=SCORE_OPTIONS.get(name, {}))
    assert scores[task.main_metric.key] == pytest.approx(1.0)


@pytest.mark.parametrize("name", SPECS)
def test_val_predictions_are_a_valid_submission_against_the_val_ground_truth(name, datasets, tmp_path):
    """predict(split="val") names every val sample as the val ground truth does: nothing missing, nothing extra."""
    task = get_task(name)
    spec = load_spec(REPO / "config" / "submissions" / SPECS[name])
    torch.manual_seed(0)
    model = task.build_model(spec["model"], datasets[name]["subset"])
    out = tmp_path / task.submission_filename
    summary = task.predict([model], datasets[name]["subset"], spec["recipe"], out, device=torch.device("cpu"), workers=0, split="val")
    assert summary["split"] == "val"
    assert task.validate(datasets[name]["val_gt"], out, SCORE_OPTIONS.get(name, {})) == []


class Constant(torch.nn.Module):
    """A classifier that gives every input the same logits (per pixel for segmentation)."""

    def __init__(self, logits: list[float], spatial: bool = False):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits), requires_grad=False)
        self.spatial = spatial

    def forward(self, x):
        if self.spatial:
            return self.logits[None, :, None, None].expand(x.shape[0], -1, *x.shape[-2:])
        return self.logits.expand(x.shape[0], -1)


def _members(classes: int, spatial: bool = False) -> tuple[Constant, Constant]:
    """Member A picks class 0, member B class 2; their averaged probabilities pick class 1."""
    a = [3.0, 2.5, -5.0] + [-9.0] * (classes - 3)
    b = [-5.0, 2.5, 3.0] + [-9.0] * (classes - 3)
    return Constant(a, spatial), Constant(b, spatial)


def test_the_val_prediction_of_two_members_is_their_averaged_prediction(datasets, tmp_path):
    task = get_task("classification")
    spec = load_spec(REPO / "config" / "submissions" / SPECS["classification"])
    a, b = _members(3)
    cpu = torch.device("cpu")

    def predicted(models, out):
        task.predict(models, datasets["classification"]["subset"], spec["recipe"], tmp_path / out, device=cpu, workers=0, split="val")
        return {line.split(",")[1] for line in (tmp_path / out).read_text().splitlines()[1:]}

    assert predicted([a], "a.csv") == {"0"} and predicted([b], "b.csv") == {"2"}
    assert predicted([a, b], "ensemble.csv") == {"1"}  # neither member's answer: the mean of their probabilities


def test_the_action_recognition_val_prediction_of_two_members_is_their_averaged_prediction(datasets, tmp_path):
    task = get_task("action_recognition")
    spec = load_spec(REPO / "config" / "submissions" / SPECS["action_recognition"])
    a, b = _members(3)
    out = tmp_path / "submission.txt"
    task.predict([a, b], datasets["action_recognition"]["subset"], spec["recipe"], out, device=torch.device("cpu"), workers=0, split="val")
    lines = out.read_text().splitlines()
    assert len(lines) == len(datasets["action_recognition"]["val_gt"].read_text().splitlines())
    assert {line.split(" ")[1] for line in lines} == {"2"}  # labels are 1-based: class 1 of the averaged probabilities


def test_the_segmentation_val_prediction_of_two_members_is_their_averaged_prediction(datasets, tmp_path):
    from viprepro.tasks.segmentation.labels import NUM_TRAIN_CLASSES, TRAIN_TO_ID

    task = get_task("segmentation")
    spec = load_spec(REPO / "config" / "submissions" / SPECS["segmentation"])
    a, b = _members(NUM_TRAIN_CLASSES, spatial=True)
    out = tmp_path / "submission.zip"
    task.predict([a, b], datasets["segmentation"]["subset"], spec["recipe"], out, device=torch.device("cpu"), workers=0, split="val")
    from PIL import Image

    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        values = {int(v) for name in names for v in np.unique(np.asarray(Image.open(archive.open(name))))}
    assert names and all(name.endswith("_leftImg8bit.png") for name in names)
    assert values == {int(TRAIN_TO_ID[1])}


# --- the verdict takes the val-score files, not the training history -----------------------------------------------


def _verdict_step():
    loaded = importlib.util.spec_from_file_location("verdict_step", REPO / "workflow_scripts" / "verdict.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def _judge_folder(root: Path, dataset: dict, *, history_top1: float, val_top1: dict[int, float], claim: float) -> argparse.Namespace:
    """The files judge_submission reads, for a classification spec claiming top1 on val, 2 seeds x 1 member."""
    spec = copy.deepcopy(load_spec(REPO / "config" / "submissions" / SPECS["classification"]))
    raw = {k: spec[k] for k in ("name", "task", "description", "model", "recipe")}
    raw.update(name="val_claim", seed=0, extra_seeds=1, claimed={"top1": {"value": claim, "split": "val", "tolerance": {"absolute": 0.05}}})
    spec_path = root / "spec.yaml"
    spec_path.write_text(json.dumps(raw))  # JSON is YAML
    scores, train_records, predict_records, val_scores, val_predict_records = [], [], [], [], []
    digest = training_data_digest(read_manifest(dataset["subset"]), ["train"])  # an honest run: every audit passes
    for seed in (0, 1):
        folder = root / f"seed_{seed}"
        member = folder / "member_0"
        write_json(
            member / "train_record.json",
            {
                "seed": seed,
                "member": 0,
                "initial_weights_digest": "w",
                "train_splits": ["train"],
                "train_data_digest": digest,
                "data_read": {"modified": [], "modified_count": 0, "outside_splits": [], "outside_splits_count": 0},
                "file_audit": {"passed": True},
                "parameters": 10,
                "wall_seconds": 1.0,
                "cpu_seconds": 1.0,
                "threads": 1,
                "device": "cpu",
            },
        )
        write_json(member / "history.json", [{"epoch": 1, "train_loss": 1.0, "val_top1": history_top1}])
        write_json(
            folder / "scores" / "scores.json",
            {"task": "classification", "seed": seed, "top1": 0.5, "status": "scored", "submission_sha256": "t"},
        )
        write_json(folder / "submission.csv.record.json", {"seed": seed, "sha256": "t", "identical": True, "repeats": 2})
        write_json(
            folder / "val" / "scores" / "scores.json",
            {"task": "classification", "seed": seed, "top1": val_top1[seed], "split": "val", "status": "scored", "submission_sha256": "v"},
        )
        write_json(folder / "val" / "submission.csv.record.json", {"seed": seed, "sha256": "v", "identical": True, "repeats": 1})
        scores.append(folder / "scores")
        train_records.append(member / "train_record.json")
        predict_records.append(folder / "submission.csv.record.json")
        val_scores.append(folder / "val" / "scores")
        val_predict_records.append(folder / "val" / "submission.csv.record.json")
    return (
        _verdict_step()
        .get_args_parser()
        .parse_args(
            [
                "--spec",
                str(spec_path),
                "--subset",
                str(dataset["subset"]),
                "--out",
                str(root / "verdict.json"),
                "--task",
                "classification",
                "--scores",
                *map(str, scores),
                "--train-records",
                *map(str, train_records),
                "--predict-records",
                *map(str, predict_records),
                "--val-scores",
                *map(str, val_scores),
                "--val-predict-records",
                *map(str, val_predict_records),
                "--no-scan-spec-folder",
            ]
        )
    )


@pytest.fixture
def no_fresh_build(monkeypatch):
    """The weights audit's fresh-process build is tested elsewhere (test_audits); here it only costs time."""
    monkeypatch.setattr("viprepro.judging.fresh_build.initial_digests", lambda task, model, subset, keys: {key: "w" for key in keys})


def test_a_val_claim_is_judged_on_the_val_scores_not_on_the_training_history(datasets, tmp_path, no_fresh_build):
    # The history says the claim holds (0.90 at the last epoch); the val predictions say it does not.
    args = _judge_folder(tmp_path, datasets["classification"], history_top1=0.90, val_top1={0: 0.40, 1: 0.42}, claim=0.90)
    record = _verdict_step().build_verdict(args)
    (judgement,) = record["metrics"]
    assert judgement["claimed_split"] == "val"
    assert judgement["reproduced"] == 0.40 and judgement["scores_by_seed"] == {"0": 0.40, "1": 0.42}
    assert judgement["band"]["mean"] == pytest.approx(0.41)
    assert record["verdict"] == "not_reproduced"
    assert record["val_submission_sha256"] == {"0": "v", "1": "v"}
    assert record["audits_passed"], record["audits"]


def test_a_val_claim_whose_val_scores_hold_is_reproduced_whatever_the_history_says(datasets, tmp_path, no_fresh_build):
    args = _judge_folder(tmp_path, datasets["classification"], history_top1=0.10, val_top1={0: 0.61, 1: 0.58}, claim=0.60)
    record = _verdict_step().build_verdict(args)
    assert record["metrics"][0]["reproduced"] == 0.61 and record["verdict"] == "reproduced"


def test_a_scored_val_file_that_inference_did_not_write_fails_submission_provenance(datasets, tmp_path, no_fresh_build):
    args = _judge_folder(tmp_path, datasets["classification"], history_top1=0.6, val_top1={0: 0.6, 1: 0.6}, claim=0.6)
    write_json(args.val_predict_records[1], {"seed": 1, "sha256": "other", "identical": True, "repeats": 1})
    record = _verdict_step().build_verdict(args)
    audit = record["audits"]["submission_provenance"]
    assert not audit["passed"] and audit["problems"][0].startswith("val seed 1: the scored val submission file")
    assert record["verdict"] == "audit_failed"


def test_a_val_claim_without_val_scores_is_refused(datasets, tmp_path, no_fresh_build):
    from viprepro.errors import UserError

    args = _judge_folder(tmp_path, datasets["classification"], history_top1=0.9, val_top1={0: 0.9, 1: 0.9}, claim=0.9)
    args.val_scores, args.val_predict_records = [], []
    with pytest.raises(UserError, match="claimed on val but no val scores"):
        _verdict_step().build_verdict(args)


# --- end to end: the rules a val claim adds ---------------------------------------------------------------------------


def _val_claim_config(tmp_path: Path, *specs: str) -> Path:
    import yaml

    config = yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text())
    config["datasets"]["classification"]["submissions"] = [str(REPO / "tests/data" / spec) for spec in specs]
    config["datasets"]["classification"]["synthetic"]["options"] = OPTIONS["classification"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_val_rules_run_only_for_a_claim_on_val_and_never_read_the_hidden_folder(tmp_path):
    import re
    import subprocess

    from testutils import pipeline_env, snakemake_command

    config = _val_claim_config(tmp_path, "classification_val_claim.yaml", "classification_smoke.yaml")
    result = subprocess.run(
        [
            *snakemake_command(),
            "-n",
            "--forceall",
            "--cores",
            "1",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path / "work"),
            "--configfile",
            str(config),
        ],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = []
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", result.stdout, re.M):
        field = {key: value for key, value in re.findall(r"^    (input|output): (.*)$", body, re.M)}
        jobs.append((rule, field.get("input", ""), field.get("output", "")))
    val_jobs = [(rule, output) for rule, _, output in jobs if rule in ("predict_val", "score_val")]
    assert {rule for rule, _ in val_jobs} == {"predict_val", "score_val"}
    assert all("classification_val_claim/seed_0/val/" in output for _, output in val_jobs)  # not for the test-only claim
    assert [rule for rule, _, _ in jobs].count("val_ground_truth") == 1  # once per dataset
    assert {rule for rule, inputs, _ in jobs if "/hidden" in inputs} == {"score_submission"}
    judges = {output.split("/")[2]: inputs for rule, inputs, output in jobs if rule == "judge_submission"}
    assert "classification_val_claim/seed_0/val/scores" in judges["classification_val_claim"]
    assert "/val/" not in judges["classification_smoke"]


@pytest.mark.slow  # the tiny pipeline with two members (about 2 min on one core)
def test_the_pipeline_judges_a_val_claim_on_its_val_predictions(tmp_path):
    import subprocess

    from mlflow.tracking import MlflowClient
    from testutils import pipeline_env, snakemake_command

    config = _val_claim_config(tmp_path, "classification_val_claim.yaml")
    work = tmp_path / "work"
    target = "results/classification/classification_val_claim/verdict.json"
    result = subprocess.run(
        [
            *snakemake_command(),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(work),
            "--configfile",
            str(config),
            "--cores",
            "1",
            target,
        ],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seed = work / "results/classification/classification_val_claim/seed_0"
    val_scores = read_json(seed / "val/scores/scores.json")
    assert val_scores["split"] == "val" and val_scores["mode"] == "strict"
    assert val_scores["n_scored"] == len((work / "results/data/classification/val_gt/val_gt.csv").read_text().splitlines()) - 1
    assert read_json(seed / "val/submission.csv.record.json")["members"] == 2
    verdict = read_json(work / target)
    (judgement,) = verdict["metrics"]
    assert judgement["claimed_split"] == "val" and judgement["reproduced"] == val_scores["top1"]
    assert verdict["val_submission_sha256"]["0"] == val_scores["submission_sha256"]
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'results/mlflow/mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    by_rule = {r.data.tags["rule"]: r for r in runs}
    for rule in ("val_ground_truth", "predict_val", "score_val"):
        assert by_rule[rule].info.status == "FINISHED"
    assert by_rule["predict_val"].data.tags["split"] == "val" and by_rule["score_val"].data.tags["split"] == "val"
