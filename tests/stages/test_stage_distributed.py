"""A pretext stage spans several processes (DDP under torchrun, gloo on the CPU); other stages refuse to.

The slow test launches `train.py --stage` under torchrun with two processes, as pretrain_member
does when config `distributed` asks: MoCo v2 with its keys gathered across ranks, each rank's
share of the single-process batch order read through the one path-opaque view rank 0 built,
and rank 0's audit covering both ranks' file accesses with labels withheld.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from testutils import REPO

from viprepro.errors import UserError
from viprepro.files.fileio import read_json
from viprepro.files.subset_manifest import read_manifest
from viprepro.specs.load import load_spec
from viprepro.specs.stages import stage_named
from viprepro.training import distributed, engine, stages

RECIPE = {"epochs": 2, "batch_size": 6, "input_size": 16, "cache_decoded": True, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
SPEC = {
    "name": "ddp_stages",
    "task": "classification",
    "model": {"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}},
    "stages": [
        {"name": "moco", "kind": "pretext", "recipe": {**RECIPE, "pretext": {"name": "moco_v2", "queue": 12, "dim": 16}}},
        {"name": "finetune", "kind": "supervised", "init": {"from": "moco"}, "recipe": RECIPE},
    ],
    "claimed": {"top1": {"value": 0.5}},
}


@pytest.fixture
def spec_path(tmp_path):
    path = tmp_path / "ddp_stages.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(SPEC))))
    return path


def test_a_supervised_stage_refuses_several_processes(tmp_path, task, subset, spec_path):
    spec = load_spec(spec_path)
    plan = stages.StagePlan(stage_named(spec, "finetune"), {"moco": tmp_path / "moco.pt"})
    context = distributed.Context(rank=0, world_size=2, local_world_size=2)
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=subset.subset_dir, seed=0, context=context, stage=plan)
    with pytest.raises(UserError, match="a supervised stage trains in one process"):
        engine.train(run, tmp_path / "m.pt", tmp_path / "state")


def test_the_ranks_share_out_the_single_process_batches_of_a_view(tmp_path, task, subset):
    import torch

    from viprepro.training.image_view import build_view

    view = build_view(subset.subset_dir, read_manifest(subset.subset_dir), "train", tmp_path / "view")
    loader = task.unlabeled_loader(view, RECIPE, lambda image: [image], workers=0, generator=torch.Generator(), shuffle=True)
    shares = []
    for rank in (0, 1):
        sampler = distributed.shard_loader(loader, distributed.Context(rank=rank, world_size=2, local_world_size=2)).batch_sampler
        sampler.set_epoch(11)
        shares.append(list(sampler))
    order = distributed.epoch_order(len(view), 11)  # what the one-process loader reads when seeded with 11, in manifest indices
    batches = [order[k : k + 6] for k in range(0, len(order) - len(order) % 6, 6)]
    assert len(shares[0]) == len(shares[1]) == len(batches) > 1
    for first, second, batch in zip(*shares, batches):
        assert len(first) == len(second) == 3
        assert sorted(first + second) == sorted(view.positions[index] for index in batch)


@pytest.mark.slow
def test_a_pretext_stage_trains_in_two_processes_with_its_labels_withheld(tmp_path, subset, spec_path):
    folder = tmp_path / "stage_moco"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        str(REPO / "workflow_scripts/train.py"),
        *("--task", "classification", "--spec", str(spec_path), "--subset", str(subset.subset_dir), "--seed", "0"),
        *("--stage", "moco", "--backbones", str(folder / "backbones"), "--out", str(folder / "model.pt")),
        *("--forbid", str(subset.hidden_dir), "--threads", "2", "--device", "cpu", "--determinism", "strict"),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    record = read_json(folder / "train_record.json")
    assert record["distributed"]["world_size"] == 2 and record["stage"] == "moco"
    audit = record["file_audit"]
    assert audit["passed"] and audit["labels_withheld"] and audit["label_files_opened_count"] == 0, audit
    assert audit["processes"] >= 2  # both ranks' accesses, read by rank 0
    train = read_manifest(subset.subset_dir)["splits"]["train"]
    assert audit["training_files_opened"] == len(train)  # through the view, mapped back to the subset's files
    assert record["data_read"]["digest"] == record["data_read"]["expected_digest"]
    assert sorted(p.name for p in (folder / "backbones").iterdir()) == ["epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]
    assert not (folder / "state").exists()  # the view went with the state
