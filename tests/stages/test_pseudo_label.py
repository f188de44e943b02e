"""Pseudo-label stages: the labelled set they write, the rules that refuse test images, the audits
that catch a stage reading the hidden folder, and the pipeline running one end to end (slow)."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from testutils import REPO

from viprepro.errors import UserError
from viprepro.files.fileio import canonical_digest, read_json
from viprepro.files.subset_manifest import read_manifest
from viprepro.specs.load import load_spec
from viprepro.training import stages

PIPELINE_SPEC = REPO / "tests/stages/pseudo_label.yaml"
PIPELINE_CONFIG = REPO / "tests/stages/pseudo_config.yaml"


def small_spec(tmp_path, *, images="val", threshold=0.4) -> dict:
    """The pipeline's spec (labeller -> pseudo -> polish) on the tiny data of conftest.py."""
    written = yaml.safe_load(PIPELINE_SPEC.read_text())
    written["stages"][1]["pseudo_label"].update(images=images, threshold=threshold)
    path = tmp_path / "pseudo.yaml"
    path.write_text(yaml.safe_dump(written))
    return load_spec(path)


@pytest.fixture(scope="module")
def labeller(tmp_path_factory, task, subset):
    """The spec's first stage trained once: (spec, checkpoint path)."""
    from viprepro.training.stages import train_chain

    tmp = tmp_path_factory.mktemp("labeller")
    spec = small_spec(tmp)
    first = {**spec, "stages": spec["stages"][:1]}
    train_chain(task, first, subset.subset_dir, tmp / "chain", seed=0)
    return spec, tmp / "chain/stage_labeller/model.pt"


def pseudo_run(task, subset, spec, checkpoint, tmp_path):
    from viprepro.jobs.determinism import apply_level
    from viprepro.specs.stages import stage_named
    from viprepro.training import engine

    apply_level("strict")
    plan = stages.StagePlan(stage_named(spec, "pseudo"), {"labeller": checkpoint}, pseudo_labels_path=tmp_path / "pseudo_labels.json")
    return engine.TrainingRun(task=task, spec=spec, subset_dir=subset.subset_dir, seed=0, identity={"test": "pseudo"}, stage=plan)


def test_the_pseudo_label_file_holds_every_prediction_and_keeps_those_at_the_threshold(tmp_path, task, subset, labeller):
    from viprepro.training import engine

    spec, checkpoint = labeller
    final = engine.train(pseudo_run(task, subset, spec, checkpoint, tmp_path), tmp_path / "pseudo.pt", tmp_path / "state")
    written = read_json(tmp_path / "pseudo_labels.json")
    val = read_manifest(subset.subset_dir)["splits"]["val"]
    assert written["images"] == len(written["predictions"]) == len(val)
    assert [p["sha256"] for p in written["predictions"]] == [entry["sha256"] for entry in val]  # the split's order, no path
    assert all(p["kept"] == (p["confidence"] >= written["threshold"]) for p in written["predictions"])
    assert written["kept"] == sum(p["kept"] for p in written["predictions"]) == len(written["indices"])
    assert written["digest"] == canonical_digest({"indices": written["indices"], "labels": written["labels"]})
    assert final["pseudo_labels"] == {
        k: written[k] for k in ("stage", "from", "from_weights_digest", "split", "threshold", "images", "kept", "digest")
    }
    assert written["from_weights_digest"] == next(i["digest"] for i in final["inputs"] if i["role"] == "pseudo_label")


def test_a_pseudo_label_stage_on_the_test_images_is_refused_by_the_spec_and_by_the_job(tmp_path, task, subset, labeller):
    with pytest.raises(UserError, match="DO NOT train on Imagenet validation data") as caught:
        small_spec(tmp_path, images="test")
    assert "stages.1.pseudo_label.images" in caught.value.message
    spec, checkpoint = labeller  # a spec object edited after it was checked: the job refuses it before reading an image
    edited = json.loads(json.dumps(spec))
    edited["stages"][1]["pseudo_label"]["images"] = "test"
    from viprepro.training import engine

    with pytest.raises(UserError, match="rules do not allow training on the 'test' images"):
        engine.train(pseudo_run(task, subset, edited, checkpoint, tmp_path), tmp_path / "pseudo.pt", tmp_path / "state")
    assert not (tmp_path / "pseudo_labels.json").exists() and not (tmp_path / "pseudo.pt").exists()


def test_a_pseudo_label_stage_that_reads_the_hidden_folder_fails_its_audit(tmp_path, monkeypatch, task, subset, labeller):
    from viprepro.training.record import audited_training

    spec, checkpoint = labeller
    honest = type(task).unlabeled_loader

    def leaking(self, *args, **kwargs):
        os.listdir(subset.hidden_dir)  # e.g. to look up the true labels of the images it labels
        return honest(self, *args, **kwargs)

    manifest = read_manifest(subset.subset_dir)
    run = pseudo_run(task, subset, spec, checkpoint, tmp_path)
    _, clean = audited_training(run, tmp_path / "a.pt", tmp_path / "a_state", manifest=manifest, forbidden=[subset.hidden_dir])
    assert clean["file_audit"]["passed"], clean["file_audit"]["problems"]
    monkeypatch.setattr(type(task), "unlabeled_loader", leaking)
    run = pseudo_run(task, subset, spec, checkpoint, tmp_path)
    _, audited = audited_training(run, tmp_path / "b.pt", tmp_path / "b_state", manifest=manifest, forbidden=[subset.hidden_dir])
    audit = audited["file_audit"]
    assert not audit["passed"] and any(str(subset.hidden_dir) in v for v in audit["violations"])


def test_a_config_with_a_pseudo_label_stage_on_test_fails_the_dry_run(tmp_path):
    from test_stage_pipeline import snakemake

    written = yaml.safe_load(PIPELINE_SPEC.read_text())
    written["stages"][1]["pseudo_label"]["images"] = "test"
    spec = tmp_path / "on_test.yaml"
    spec.write_text(yaml.safe_dump(written))
    config = yaml.safe_load(PIPELINE_CONFIG.read_text())
    config["datasets"]["classification"]["submissions"] = [str(spec)]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path / "work", "-n", config=path)
    assert result.returncode != 0
    assert (
        "stages.1.pseudo_label.images" in result.stderr + result.stdout
        and "DO NOT train on Imagenet validation data" in result.stderr + result.stdout
    )


@pytest.mark.slow
def test_the_pipeline_labels_val_trains_on_it_and_audits_the_chain(tmp_path):
    from test_stage_pipeline import snakemake

    # The certificate (and so the verdict) of the one submission: the leaderboard's jobs add nothing here.
    certificate = "results/classification/stages_pseudo_label/certificate"
    result = snakemake(tmp_path, "--cores", "2", certificate, timeout=900, config=PIPELINE_CONFIG)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results/classification/stages_pseudo_label"
    member = results / "seed_0/member_0"
    written = read_json(member / "stage_pseudo/pseudo_labels.json")
    assert written["split"] == "val" and written["threshold"] == 0.4 and written["images"] == len(written["predictions"]) > 0
    assert all(p["kept"] == (p["confidence"] >= 0.4) for p in written["predictions"])
    assert written["kept"] == sum(p["kept"] for p in written["predictions"])
    pseudo_record = read_json(member / "stage_pseudo/train_record.json")
    assert pseudo_record["pseudo_labels"]["digest"] == written["digest"] and pseudo_record["pseudo_labels"]["kept"] == written["kept"]
    record = read_json(member / "train_record.json")  # the member's: the last stage's, with the whole chain
    assert [entry["stage"] for entry in record["chain"]] == ["labeller", "pseudo", "polish"]
    pseudo, polish = record["chain"][1], record["chain"][2]
    assert pseudo["pseudo_labels"]["digest"] == written["digest"]
    assert [(i["role"], i["stage"]) for i in polish["inputs"]] == [("init", "pseudo")]
    assert polish["inputs"][0]["digest"] == pseudo["final_weights_digest"]  # the next stage trained on the pseudo-labelled model
    verdict = read_json(results / "verdict.json")
    for name in ("pretrained_weights", "data_access", "test_label_leakage", "claim_split_unseen"):
        assert verdict["audits"][name]["passed"], (name, verdict["audits"][name]["problems"])
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results/mlflow/mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("viprepro-classification").experiment_id], max_results=100)
    parents = {r.info.run_id for r in runs if r.data.tags.get("stage") == "member"}
    stage_runs = {r.data.tags["training_stage"]: r for r in runs if r.data.tags.get("training_stage")}
    assert len(parents) == 1 and set(stage_runs) == {"labeller", "pseudo", "polish"}
    assert all(r.data.tags.get("mlflow.parentRunId") in parents for r in stage_runs.values())
    assert "pseudo" in (results / "certificate/certificate.md").read_text()


def test_pseudo_label_inference_reads_the_split_only_through_paths_without_a_class(tmp_path, monkeypatch, task, subset, labeller):
    from viprepro.training import engine

    spec, checkpoint = labeller
    honest, handed = type(task).unlabeled_loader, []

    def watching(self, images, *args, **kwargs):
        handed.append(images)
        return honest(self, images, *args, **kwargs)

    monkeypatch.setattr(type(task), "unlabeled_loader", watching)
    engine.train(pseudo_run(task, subset, spec, checkpoint, tmp_path), tmp_path / "pseudo.pt", tmp_path / "state")
    classes = {entry["path"].split("/")[1] for entry in read_manifest(subset.subset_dir)["splits"]["val"]}
    assert len(handed) == 1 and handed[0].split == "val" and len(handed[0]) == sum(1 for _ in handed[0].sampler(shuffle=False))
    assert not any(wnid in str(path) for path in handed[0].files for wnid in classes)


def test_a_pseudo_label_stage_killed_mid_epoch_resumes_to_the_same_weights_and_labels(tmp_path, monkeypatch, task, subset, labeller):
    from test_stage_training import Killed, kill_mid_epoch

    from viprepro.training import engine

    spec, checkpoint = labeller
    spec = json.loads(json.dumps(spec))
    spec["stages"][1]["recipe"]["epochs"] = 2
    with monkeypatch.context() as patch:
        calls = kill_mid_epoch(patch, 10**6)  # counts the batches of an uninterrupted run
        whole = engine.train(pseudo_run(task, subset, spec, checkpoint, tmp_path / "whole"), tmp_path / "whole.pt", tmp_path / "w_state")
    per_epoch = calls["n"] // 2
    with monkeypatch.context() as patch:
        kill_mid_epoch(patch, per_epoch + 1)  # dies in the second (last) epoch, after one of its batches
        with pytest.raises(Killed):
            engine.train(pseudo_run(task, subset, spec, checkpoint, tmp_path), tmp_path / "killed.pt", tmp_path / "state")
    assert (tmp_path / "state/last.pt").exists() and per_epoch > 1
    resumed = engine.train(pseudo_run(task, subset, spec, checkpoint, tmp_path), tmp_path / "killed.pt", tmp_path / "state")
    assert resumed["final_weights_digest"] == whole["final_weights_digest"]
    assert resumed["pseudo_labels"] == whole["pseudo_labels"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in whole["history"]]
