"""Stages train with the engine's loop: exact resume after a kill mid-epoch, the label-file
audit of a pretext stage, and the weights audit that follows the chain of stages."""

from __future__ import annotations

import os

import pytest
import torch

from viprepro.files.subset_manifest import read_manifest, training_data_digest
from viprepro.jobs.determinism import apply_level, derive_seed
from viprepro.judging import evidence
from viprepro.specs.stages import stage_named
from viprepro.training import engine, stages
from viprepro.training.record import audited_training


def stage_run(task, spec, subset, name, inputs, tmp_path, *, seed=0):
    apply_level("strict")
    stage = stage_named(spec, name)
    plan = stages.StagePlan(stage, dict(inputs), backbones_dir=tmp_path / f"{name}_backbones" if stage["kind"] == "pretext" else None)
    identity = {"spec": spec["name"], "seed": seed, "stage": name, "inputs": {k: str(v) for k, v in inputs.items()}}
    return engine.TrainingRun(task=task, spec=spec, subset_dir=subset.subset_dir, seed=seed, identity=identity, stage=plan)


def train_stage(task, spec, subset, name, inputs, tmp_path, tag="", **kwargs):
    out = tmp_path / f"{name}{tag}.pt"
    final = engine.train(stage_run(task, spec, subset, name, inputs, tmp_path, **kwargs), out, tmp_path / f"{name}{tag}_state")
    return out, final


@pytest.fixture(scope="module")
def chain(tmp_path_factory, task, subset, spec):
    """The three stages trained once, uninterrupted: {name: (checkpoint path, final checkpoint dict)}."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("chain")
    ssl = train_stage(task, spec, subset, "ssl", {}, tmp)
    finetune = train_stage(task, spec, subset, "finetune", {"ssl": ssl[0]}, tmp)
    student = train_stage(task, spec, subset, "student", {"finetune": finetune[0]}, tmp)
    return {"ssl": ssl, "finetune": finetune, "student": student}


def test_each_stage_records_where_its_weights_came_from(chain, spec):
    ssl, finetune, student = (chain[n][1] for n in ("ssl", "finetune", "student"))
    assert ssl["stage_kind"] == "pretext" and ssl["inputs"] == [] and ssl["initial_weights_digest"] == ssl["fresh_weights_digest"]
    assert [(i["role"], i["stage"], i["digest"]) for i in finetune["inputs"]] == [("init", "ssl", ssl["final_weights_digest"])]
    assert finetune["inputs"][0]["parameters_loaded"] > 0
    assert finetune["initial_weights_digest"] != finetune["fresh_weights_digest"]  # the backbone was loaded
    assert [(i["role"], i["stage"], i["digest"]) for i in student["inputs"]] == [("teacher", "finetune", finetune["final_weights_digest"])]
    assert student["initial_weights_digest"] == student["fresh_weights_digest"]  # the student starts from scratch
    assert set(student["model"]) == set(finetune["model"])  # the saved model is the student alone, without its teacher
    assert all("val_top1" in h for h in student["history"]) and all("val_top1" not in h for h in ssl["history"])


def test_a_pretext_stage_saves_its_backbone_every_epoch_from_the_random_init(chain, tmp_path_factory):
    ssl = chain["ssl"][0]
    saved = sorted(p.name for p in (ssl.parent / "ssl_backbones").glob("epoch_*.pt"))
    assert saved == ["epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]


class Killed(RuntimeError):
    pass


def kill_mid_epoch(monkeypatch, after_batches: int):
    """Make the stage loss raise on batch `after_batches` + 1: the process dies inside an epoch."""
    calls = {"n": 0}
    real = stages.loss

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after_batches:
            raise Killed("killed mid-epoch")
        return real(*args, **kwargs)

    monkeypatch.setattr(stages, "loss", dying)
    return calls


@pytest.mark.parametrize("name", ["ssl", "finetune"])
def test_a_stage_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, monkeypatch, task, subset, spec, chain, name):
    inputs = {"ssl": chain["ssl"][0]} if name == "finetune" else {}
    batches = len(task.loaders(subset.subset_dir, stage_named(spec, name)["recipe"], seed=0, workers=0, generator=torch.Generator()).train)
    with monkeypatch.context() as patch:
        kill_mid_epoch(patch, batches + 1)  # dies in the second (last) epoch, after one of its batches
        with pytest.raises(Killed):
            train_stage(task, spec, subset, name, inputs, tmp_path, tag="_killed")
    assert (tmp_path / f"{name}_killed_state" / "last.pt").exists()
    _, resumed = train_stage(task, spec, subset, name, inputs, tmp_path, tag="_killed")
    assert resumed["final_weights_digest"] == chain[name][1]["final_weights_digest"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in chain[name][1]["history"]]


def audited_ssl(tmp_path, task, subset, spec):
    run = stage_run(task, spec, subset, "ssl", {}, tmp_path)
    return audited_training(
        run,
        tmp_path / "ssl.pt",
        tmp_path / "state",
        manifest=read_manifest(subset.subset_dir),
        forbidden=[subset.hidden_dir],
        label_files=task.label_files(subset.subset_dir),
    )[1]["file_audit"]


def test_a_pretext_stage_that_reads_no_label_passes_its_file_audit(tmp_path, task, subset, spec):
    audit = audited_ssl(tmp_path, task, subset, spec)
    assert audit["passed"], audit["problems"]
    assert audit["labels_withheld"] and audit["label_files_opened_count"] == 0 and audit["training_files_opened"] > 0


@pytest.mark.parametrize("peek", ["class folder", "manifest"])
def test_a_pretext_stage_that_opens_a_label_file_fails_its_audit(tmp_path, monkeypatch, task, subset, spec, peek):
    honest = type(task).unlabeled_loader

    def peeking(self, images, recipe, views, **kwargs):
        if peek == "class folder":
            os.listdir(task.label_files(subset.subset_dir)[0])  # an ImageFolder's way to learn each image's class
        else:
            read_manifest(subset.subset_dir)  # its file list is train/<wnid>/<file>: every image's class
        return honest(self, images, recipe, views, **kwargs)

    monkeypatch.setattr(type(task), "unlabeled_loader", peeking)
    audit = audited_ssl(tmp_path, task, subset, spec)
    assert not audit["passed"] and audit["label_files_opened_count"] == 1
    assert any("label file" in problem for problem in audit["problems"])


def test_a_pretext_loader_that_reads_labels_from_image_paths_fails_its_audit(tmp_path, monkeypatch, task, subset, spec):
    """It reads the very same images in the very same order, but from train/<wnid>/<file>: the class in every path."""
    import dataclasses

    honest = type(task).unlabeled_loader
    entries = read_manifest(subset.subset_dir)["splits"]["train"]
    learnt = {}

    def from_paths(self, images, recipe, views, **kwargs):
        files = list(images.files)
        for index, entry in enumerate(entries):
            files[images.positions[index]] = subset.subset_dir / entry["path"]
            learnt[entry["sha256"]] = entry["path"].split("/")[1]  # the label, parsed out of the path
        return honest(self, dataclasses.replace(images, files=tuple(files)), recipe, views, **kwargs)

    monkeypatch.setattr(type(task), "unlabeled_loader", from_paths)
    audit = audited_ssl(tmp_path, task, subset, spec)
    assert len(set(learnt.values())) == 3  # it did learn every class
    assert not audit["passed"] and audit["label_files_opened_count"] == len(entries)
    assert any("label file(s) while labels were withheld" in problem for problem in audit["problems"])
    assert all(f"train{os.sep}" in path for path in audit["label_files_opened"])


def test_a_pretext_stage_sees_its_images_only_through_paths_without_a_class(tmp_path, task, subset, spec):
    from viprepro.training.image_view import build_view

    manifest = read_manifest(subset.subset_dir)
    view = build_view(subset.subset_dir, manifest, "train", tmp_path / "view")
    classes = {entry["path"].split("/")[1] for entry in manifest["splits"]["train"]}
    assert classes and not any(wnid in str(path.relative_to(tmp_path)) for path in view.files for wnid in classes)
    assert sorted(os.listdir(tmp_path / "view")) == sorted({path.name for path in view.files})
    assert [path.name.split(".")[0] for path in view.files] == sorted(entry["sha256"] for entry in manifest["splits"]["train"])
    for index, entry in enumerate(manifest["splits"]["train"]):  # the same bytes: a hard link to the subset's file
        assert os.path.samefile(view.file_of(index), subset.subset_dir / entry["path"])


def test_a_view_copies_the_images_where_the_file_system_refuses_links(tmp_path, monkeypatch, subset):
    from viprepro.training import image_view

    def refused(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(image_view.os, "link", refused)
    manifest = read_manifest(subset.subset_dir)
    view = image_view.build_view(subset.subset_dir, manifest, "train", tmp_path / "view")
    for index, entry in enumerate(manifest["splits"]["train"]):
        copied = view.file_of(index)
        assert not os.path.samefile(copied, subset.subset_dir / entry["path"])
        assert copied.read_bytes() == (subset.subset_dir / entry["path"]).read_bytes()


@pytest.mark.parametrize("workers", [0, 1])
def test_the_view_reads_the_batches_a_loader_over_the_manifest_order_reads(tmp_path, task, subset, workers):
    """Same images, same order, same tensors: the view changes no pretext run (shipped MoCo v2 views, two epochs)."""
    from testutils import REPO

    from viprepro.specs.load import load_spec
    from viprepro.tasks.classification.unlabeled import UnlabeledImages
    from viprepro.training.image_view import build_view
    from viprepro.training.loading import seeded_loader
    from viprepro.training.selfsup import pretext_views

    recipe = {**load_spec(REPO / "config/submissions/classification_multistage_cpu.yaml")["stages"][0]["recipe"], "batch_size": 5}
    views = pretext_views(recipe["pretext"], recipe["input_size"])
    manifest = read_manifest(subset.subset_dir)
    files = [subset.subset_dir / entry["path"] for entry in manifest["splits"]["train"]]
    view = build_view(subset.subset_dir, manifest, "train", tmp_path / "view")
    direct_generator, view_generator = torch.Generator(), torch.Generator()
    direct = seeded_loader(UnlabeledImages(files, views), 5, shuffle=True, workers=workers, generator=direct_generator, drop_last=True)
    through = task.unlabeled_loader(view, recipe, views, workers=workers, generator=view_generator, shuffle=True)
    assert len(through) == len(direct) and through.drop_last
    for epoch in range(2):
        batches = []
        for loader, generator in ((direct, direct_generator), (through, view_generator)):
            torch.manual_seed(100 + epoch)
            generator.manual_seed(7 + epoch)
            batches.append([torch.stack(batch) for batch in loader])
        assert len(batches[0]) == len(batches[1]) > 0
        assert all(torch.equal(a, b) for a, b in zip(*batches))


def test_a_pretext_stage_that_opens_the_hidden_folder_fails_its_audit(tmp_path, monkeypatch, task, subset, spec):
    honest = type(task).unlabeled_loader

    def leaking(self, images, recipe, views, **kwargs):
        os.listdir(subset.hidden_dir)
        return honest(self, images, recipe, views, **kwargs)

    monkeypatch.setattr(type(task), "unlabeled_loader", leaking)
    audit = audited_ssl(tmp_path, task, subset, spec)
    assert not audit["passed"] and any(str(subset.hidden_dir) in v for v in audit["violations"])


def rebuilt(task, spec, subset, chain) -> dict:
    """What the verdict's fresh process computes for each stage (here in-process, from the same builders)."""
    out = {}
    for name, (_, final) in chain.items():
        stage = stage_named(spec, name)
        inputs = {i["stage"]: chain[i["stage"]][0] for i in final["inputs"] if i["role"] == "init"}
        model, fresh, _ = stages.initial_weights(task, stage, subset.subset_dir, derive_seed(0, 0), inputs)
        from viprepro.training.checkpoint import state_digest

        out[(0, 0, name)] = {"fresh": fresh, "initial": state_digest(model.state_dict())}
    return out


def member_record(chain, *, change=None) -> dict:
    entries = []
    for name, (_, final) in chain.items():
        entry = {
            "stage": name,
            "stage_kind": final["stage_kind"],
            "seed": 0,
            "member": 0,
            "fresh_weights_digest": final["fresh_weights_digest"],
            "initial_weights_digest": final["initial_weights_digest"],
            "final_weights_digest": final["final_weights_digest"],
            "inputs": [{**i, "checkpoint": str(chain[i["stage"]][0])} for i in final["inputs"]],
            "file_audit": {"passed": True, "problems": []},
        }
        if change and name in change:
            entry.update(change[name])
        entries.append(entry)
    return {"seed": 0, "member": 0, "final_weights_digest": entries[-1]["final_weights_digest"], "chain": entries}


def test_the_weights_audit_follows_an_honest_chain(task, spec, subset, chain):
    result = evidence.stage_chain(member_record(chain), spec["stages"], rebuilt(task, spec, subset, chain))
    assert result == {"weights": [], "access": [], "leak": []}


def test_a_stage_whose_initial_weights_are_neither_fresh_nor_its_input_fails_the_weights_audit(tmp_path, task, spec, subset, chain):
    honest = rebuilt(task, spec, subset, chain)
    # A finetune stage that started from weights of its own (here: the ssl backbone of another seed).
    other, _ = train_stage(task, spec, subset, "ssl", {}, tmp_path, tag="_other", seed=1)
    forged, final = train_stage(task, spec, subset, "finetune", {"ssl": other}, tmp_path, tag="_forged")
    claimed = {"initial_weights_digest": final["initial_weights_digest"], "final_weights_digest": final["final_weights_digest"]}
    problems = evidence.stage_chain(member_record(chain, change={"finetune": claimed}), spec["stages"], honest)["weights"]
    assert any("finetune: its initial weights are neither stage 'ssl'" in p for p in problems), problems
    # ... and one that says it loaded the other backbone is caught by the chain link instead.
    loaded = {**claimed, "inputs": [{**final["inputs"][0], "checkpoint": str(forged)}]}
    problems = evidence.stage_chain(member_record(chain, change={"finetune": loaded}), spec["stages"], honest)["weights"]
    assert any("its init input is not stage 'ssl''s output" in p for p in problems), problems
    # A student that started from trained weights although the spec says from scratch.
    started = {"initial_weights_digest": chain["finetune"][1]["final_weights_digest"]}
    problems = evidence.stage_chain(member_record(chain, change={"student": started}), spec["stages"], honest)["weights"]
    assert any("student: its initial weights are neither a from-scratch build" in p for p in problems), problems


def test_the_weights_audit_refuses_a_chain_that_is_not_the_specs(task, spec, subset, chain):
    honest = rebuilt(task, spec, subset, chain)
    record = member_record(chain)
    record["chain"] = [entry for entry in record["chain"] if entry["stage"] != "ssl"]
    problems = evidence.stage_chain(record, spec["stages"], honest)["weights"]
    assert any("the chain of stages is" in p for p in problems) and any("not an earlier stage" in p for p in problems)
    no_rebuild = evidence.stage_chain(member_record(chain), spec["stages"], {})["weights"]
    assert len(no_rebuild) == 3 and all("no independent rebuild" in p for p in no_rebuild)
    manifest = read_manifest(subset.subset_dir)
    member = {"train_splits": ["train"], "train_data_digest": training_data_digest(manifest, ["train"]), "file_audit": {"passed": True}}
    audits = evidence.audits([{**member_record(chain), **member}], manifest, {}, spec_stages=spec["stages"], rederived_stages=honest)
    assert audits["pretrained_weights"]["passed"] and audits["data_access"]["passed"]
    peeked = member_record(chain, change={"ssl": {"file_audit": {"passed": False, "problems": ["opened 1 label file(s)"]}}})
    audits = evidence.audits([{**peeked, **member}], manifest, {}, spec_stages=spec["stages"], rederived_stages=honest)
    assert not audits["data_access"]["passed"] and "stage ssl: opened 1 label file" in audits["data_access"]["problems"][0]


def test_a_feature_distillation_student_and_a_pseudo_label_stage_train_from_their_inputs(tmp_path, task, subset, spec):
    import json

    import yaml

    from viprepro.specs.load import load_spec
    from viprepro.training.stages import train_chain

    written = json.loads(json.dumps(spec))
    for stage in written["stages"]:
        stage["recipe"]["epochs"] = 1
    written["stages"][2]["distill"] = {"label_weight": 1.0, "kd_weight": 0.5, "feature": {"kind": "ofd", "weight": 0.001}}
    written["stages"].append(
        {
            "name": "pseudo",
            "kind": "pseudo_label",
            "init": {"from": "student", "freeze": ["stem"]},
            "pseudo_label": {"from": "student", "threshold": 0.0, "images": "val"},
            "recipe": written["stages"][1]["recipe"],
        }
    )
    del written["recipe"], written["model"]
    written["model"] = spec["model"]
    path = tmp_path / "four.yaml"
    path.write_text(yaml.safe_dump(written))
    four = load_spec(path)
    finals = train_chain(task, four, subset.subset_dir, tmp_path / "chain", seed=0)
    student, pseudo = finals["student"], finals["pseudo"]
    assert set(student["model"]) == set(finals["finetune"]["model"])  # the student alone: no connectors, no teacher
    val_images = len(read_manifest(subset.subset_dir)["splits"]["val"])
    assert pseudo["pseudo_labels"]["kept"] == pseudo["pseudo_labels"]["images"] == val_images  # threshold 0 keeps every image
    assert [(i["role"], i["stage"]) for i in pseudo["inputs"]] == [("init", "student"), ("pseudo_label", "student")]
    stem = [k for k in pseudo["model"] if k.startswith("stem") and "running" not in k and "num_batches" not in k]
    assert stem and all(torch.equal(pseudo["model"][k], student["model"][k]) for k in stem)  # frozen: never stepped


def test_the_verdicts_fresh_process_rebuilds_every_stage_as_the_engine_started_it(task, spec, subset, chain):
    from viprepro.judging.fresh_build import stage_digests

    record = member_record(chain)
    rebuilt_there = stage_digests(task.name, spec, subset.subset_dir, [record])
    assert rebuilt_there == rebuilt(task, spec, subset, chain)
    assert evidence.stage_chain(record, spec["stages"], rebuilt_there)["weights"] == []
    record["chain"][1]["inputs"][0]["checkpoint"] = str(chain["ssl"][0].parent / "missing.pt")
    problems = evidence.stage_chain(record, spec["stages"], stage_digests(task.name, spec, subset.subset_dir, [record]))["weights"]
    assert any("finetune: no independent rebuild of its initial weights" in p for p in problems), problems


def test_a_multi_stage_spec_is_never_trained_as_one_model(tmp_path, task, spec, subset):
    from viprepro.errors import UserError

    run = engine.TrainingRun(task=task, spec=spec, subset_dir=subset.subset_dir, seed=0)
    with pytest.raises(UserError, match="multi-stage spec: train it stage by stage"):
        engine.train(run, tmp_path / "m.pt", tmp_path / "state")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ([], "a multi-stage spec trains one stage per job"),
        (["--stage", "nope"], "no stage 'nope'"),
        (["--stage", "finetune"], "stage 'finetune' loads ssl; --input gave nothing"),
        (["--stage", "finetune", "--input", "student=x.pt"], "--input gave student"),
        (["--stage", "ssl"], "give --backbones"),
    ],
)
def test_a_stage_job_refuses_inputs_other_than_the_stages_it_names(tmp_path, spec_path, spec, flags, words):
    import argparse

    from viprepro.errors import UserError
    from viprepro.steps.train import stage_plan

    parser = argparse.ArgumentParser()
    parser.add_argument("--stage")
    parser.add_argument("--input", action="append", default=[])
    parser.add_argument("--backbones", default=None)
    args = parser.parse_args(flags)
    args.spec = spec_path
    with pytest.raises(UserError) as caught:
        stage_plan(spec, args)
    assert words in caught.value.message
