"""Cheating submissions, each caught end to end by a named audit and the verdict `audit_failed`.

Each test trains a tiny model through the same code the pipeline's training job runs
(`training_record.audited_training`), cheats the way a participant could, and checks that the
named audit fails. The comments say which part of the audit the test proves: with that part
removed, the test would fail (the cheat would pass).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
from testutils import REPO, tiny_dataset

from viprepro.errors import UserError
from viprepro.files.fileio import read_json, sha256_file
from viprepro.files.schemas_io import read_yaml
from viprepro.files.subset_manifest import read_manifest, training_data_digest
from viprepro.judging import evidence
from viprepro.judging.fresh_build import initial_digests
from viprepro.judging.verdict import judge, overall
from viprepro.specs.load import load_spec
from viprepro.tasks import get_task
from viprepro.tasks.classification import data as classification_data
from viprepro.training import engine
from viprepro.training.guards import scan_weight_files
from viprepro.training.record import audited_training

TASK = get_task("classification")
OPTIONS = {"classes": 3, "subset_per_class": 6, "extra_train_per_class": 0, "val_per_class": 4, "image_size": 24}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(TASK, tmp_path_factory.mktemp("cheat"), OPTIONS)


def tiny_spec(**recipe) -> dict:
    spec = load_spec(REPO / "config/submissions/classification_resnet_small.yaml")
    spec = copy.deepcopy(spec)
    spec["name"] = "cheat"
    spec["model"] = {"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}}
    spec["recipe"].update(epochs=1, batch_size=6, cache_decoded=False, workers=2, **recipe)
    return spec


def train(dataset, spec, tmp_path, *, task=TASK):
    manifest = read_manifest(dataset["subset"])
    splits = spec["recipe"].get("train_splits", ["train"])
    run = engine.TrainingRun(
        task=task, spec=spec, subset_dir=dataset["subset"], seed=0, member=0, identity={"data": training_data_digest(manifest, splits)}
    )
    final, audited = audited_training(
        run, tmp_path / "model.pt", tmp_path / "state", manifest=manifest, forbidden=[dataset["hidden"], dataset["source"]]
    )
    record = {
        "seed": 0,
        "member": 0,
        "initial_weights_digest": final["initial_weights_digest"],
        "train_splits": splits,
        "train_data_digest": training_data_digest(manifest, splits),
        **audited,
    }
    return record, manifest


def judged(audits: dict) -> str:
    judgement = judge("top1", {"value": 0.5, "tolerance": {"absolute": 1.0}}, {0: {"top1": 0.5}}, claimed_seed=0)
    return overall([judgement], audits=audits, problems=[], resource_limits=[])[0]


@pytest.mark.slow  # trains a model (about 10 s; the fresh-process build adds an interpreter start)
def test_an_honest_run_passes_every_audit(dataset, tmp_path):
    spec = tiny_spec()
    record, manifest = train(dataset, spec, tmp_path)
    assert record["file_audit"]["processes"] >= 3  # the job and its two DataLoader workers all recorded
    assert record["data_read"]["digest"] == record["data_read"]["expected_digest"]  # every training file read, unmodified
    fresh = initial_digests("classification", spec["model"], dataset["subset"], [(0, 0)])
    audits = evidence.audits([record], manifest, fresh, weight_files=[], claims=spec["claimed"])
    assert all(a["passed"] for a in audits.values()), audits
    assert judged(audits) == "reproduced"


@pytest.mark.slow  # trains a model (about 10 s; the fresh-process build adds an interpreter start)
def test_reading_test_images_in_dataloader_workers_fails_data_access(dataset, tmp_path, monkeypatch):
    """Proves the worker recording: the test image is opened only inside DataLoader workers."""
    test_image = sorted((dataset["subset"] / "test").rglob("*.JPEG"))[0]
    honest = classification_data.ImageFiles.__getitem__

    def peeking(self, index):
        test_image.read_bytes()  # a participant's loader that also looks at the test inputs
        return honest(self, index)

    monkeypatch.setattr(classification_data.ImageFiles, "__getitem__", peeking)
    record, manifest = train(dataset, tiny_spec(), tmp_path)
    audits = evidence.audits([record], manifest, {(0, 0): record["initial_weights_digest"]})
    assert not audits["data_access"]["passed"]
    assert any(str(test_image) in problem for problem in audits["data_access"]["problems"])
    assert not audits["test_label_leakage"]["passed"]  # the bytes of a test-split file were read
    assert judged(audits) == "audit_failed"


def test_a_job_that_records_no_training_file_fails_data_access(dataset, tmp_path):
    """Proves 'zero recorded files is a failure': the old audit passed an empty record."""
    manifest = read_manifest(dataset["subset"])
    from viprepro.training.record import audit_opened_files

    audit = audit_opened_files({}, dataset["subset"], manifest, ["train"], forbidden=[])
    assert not audit["passed"] and "no file of its training split" in audit["problems"][0]


@pytest.mark.slow  # trains a model (about 10 s; the fresh-process build adds an interpreter start)
def test_a_modified_training_file_fails_the_leakage_audit(tmp_path):
    """Proves the digest of the bytes read: the manifest and spec alone cannot see the change."""
    dataset = tiny_dataset(TASK, tmp_path / "data", OPTIONS)
    victim = sorted((dataset["subset"] / "train").rglob("*.JPEG"))[0]
    os.unlink(victim)  # break the hard link first: the source stays as it was
    victim.write_bytes((dataset["source"] / "train" / victim.parent.name / victim.name).read_bytes() + b"\0tampered")
    record, manifest = train(dataset, tiny_spec(), tmp_path)
    audits = evidence.audits([record], manifest, {(0, 0): record["initial_weights_digest"]})
    assert not audits["test_label_leakage"]["passed"]
    assert victim.name in audits["test_label_leakage"]["problems"][0]
    assert judged(audits) == "audit_failed"


@pytest.mark.slow  # trains a model (about 10 s; the fresh-process build adds an interpreter start)
def test_loading_a_weight_file_shipped_in_the_repository_fails_pretrained_weights(dataset, tmp_path):
    """Proves the fresh-process build: the training process's own builder would agree with itself."""
    repository = tmp_path / "repository"
    repository.mkdir()
    donor = TASK.build_model({"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}}, dataset["subset"])
    for parameter in donor.parameters():
        torch.nn.init.constant_(parameter, 0.01)  # "pre-trained" weights
    torch.save({"state": donor.state_dict(), "padding": torch.zeros(40_000)}, repository / "pretrained.pth")

    class Preloading(type(TASK)):
        def build_model(self, model, subset_dir):
            built = super().build_model(model, subset_dir)
            built.load_state_dict(torch.load(repository / "pretrained.pth", weights_only=True)["state"])
            return built

    spec = tiny_spec()
    record, manifest = train(dataset, spec, tmp_path, task=Preloading())
    fresh = initial_digests("classification", spec["model"], dataset["subset"], [(0, 0)])
    audits = evidence.audits([record], manifest, fresh, weight_files=scan_weight_files(repository))
    problems = audits["pretrained_weights"]["problems"]
    assert not audits["pretrained_weights"]["passed"]
    assert any("independent from-scratch build" in p for p in problems)
    assert any("pretrained.pth" in p for p in problems)
    assert judged(audits) == "audit_failed"


def test_training_on_val_and_claiming_val_is_refused_and_audited(tmp_path):
    raw = read_yaml(REPO / "config/submissions/classification_top2020_recipe.yaml")  # trains on train+val
    raw["claimed"] = {"top1": {"value": 0.99, "split": "val"}}
    path = tmp_path / "val_cheat.yaml"
    import yaml

    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=r"claimed\.top1\.split.*val split, which recipe.train_splits trains on"):
        load_spec(path)
    # a record that slipped through (an older spec, an external step) is caught by the audit
    records = [{"seed": 0, "member": 0, "train_splits": ["train", "val"]}]
    audit = evidence.claim_split_unseen(records, raw["claimed"])
    assert not audit["passed"] and "top1 is claimed on val" in audit["problems"][0]
    assert judged({"claim_split_unseen": audit}) == "audit_failed"


class _NoTracking:
    """Stands in for the MLflow run (the score step's logic is what is tested here)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _score_step(*argv: str):
    """The pipeline's score step, run in-process: its `score` function with the rule's arguments."""
    import importlib.util

    loaded = importlib.util.spec_from_file_location("score_step", REPO / "workflow_scripts/score.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    args = module.get_args_parser().parse_args(
        ["--task", "classification", "--no-figures", "--submission-name", "cheat", "--on-invalid", "record", *argv]
    )
    return module.score(args, _NoTracking())


def _score(dataset, submission: Path, out: Path) -> dict:
    return _score_step("--hidden", str(dataset["hidden"]), "--submission", str(submission), "--out", str(out))


def test_a_submission_copied_from_the_ground_truth_fails_submission_provenance(dataset, tmp_path):
    """Proves the digest comparison: the copied file scores a perfect 1.0 and nothing else objects."""
    lines = dataset["gt"].read_text().splitlines()
    model_output = tmp_path / "seed_0" / "model_output.csv"
    model_output.parent.mkdir()
    model_output.write_text("Image IDs,Predictions\n" + "".join(f"{line.split(',')[0]},0\n" for line in lines[1:]))
    copied = tmp_path / "seed_0" / "submission.csv"
    copied.write_text("Image IDs,Predictions\n" + "\n".join(lines[1:]) + "\n")  # the labels, from elsewhere
    _score(dataset, copied, tmp_path / "seed_0" / "scores")
    scores = read_json(tmp_path / "seed_0" / "scores" / "scores.json")
    assert scores["top1"] == 1.0
    predict_records = {0: {"sha256": sha256_file(model_output)}}  # what inference wrote from the checkpoints
    audit = evidence.submission_provenance({0: scores}, predict_records)
    assert not audit["passed"] and "is not the file inference wrote" in audit["problems"][0]
    assert evidence.submission_provenance({0: {**scores, "submission_sha256": sha256_file(model_output)}}, predict_records)["passed"]
    assert judged({"submission_provenance": audit}) == "audit_failed"


def test_an_invalid_submission_gets_a_verdict_and_the_job_succeeds(dataset, tmp_path):
    bad = tmp_path / "seed_0" / "submission.csv"
    bad.parent.mkdir()
    bad.write_text("Image IDs,Predictions\nimg_1.JPEG,not-a-label\nimg_1.JPEG,2\n")
    assert _score(dataset, bad, tmp_path / "seed_0" / "scores")["status"] == "invalid"
    scores = read_json(tmp_path / "seed_0" / "scores" / "scores.json")
    assert scores["status"] == "invalid" and len(scores["problems"]) >= 2
    judgement = judge("top1", {"value": 0.5}, {0: scores}, claimed_seed=0)
    assert judgement["verdict"] == "no_score"
    problems = [f"seed 0: {p}" for p in scores["problems"]]
    assert overall([judgement], audits={}, problems=problems, resource_limits=[])[0] == "invalid_submission"


def test_a_ground_truth_problem_still_fails_the_score_job(dataset, tmp_path):
    """Only the submission's own problems become a verdict; a broken ground truth stops the job."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_gt.csv").write_bytes(b"\xff\xfe broken")
    submission = tmp_path / "submission.csv"
    submission.write_text("Image IDs,Predictions\n")
    with pytest.raises(UserError, match="test_gt.csv"):
        _score_step("--hidden", str(hidden), "--submission", str(submission), "--out", str(tmp_path / "scores"))
