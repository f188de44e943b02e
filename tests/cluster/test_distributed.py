"""Distributed training (DDP under torchrun) on the CPU with gloo.

Fast tests: the distributed sampler's order, the refusal of a global batch the world size
does not divide, the launch command. Slow test (three two-process torchrun launches of the
pipeline's own training script): a two-process member trains, a run killed mid-epoch
resumes to the same weights as an uninterrupted two-process run, and both match the
one-process run within the tolerance stated below.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from testutils import REPO, SMOKE_DATASETS, tiny_dataset

from viprepro.errors import UserError
from viprepro.jobs.determinism import apply_level, derive_seed
from viprepro.specs.load import load_spec
from viprepro.tasks import get_task
from viprepro.training import checkpoint, distributed, engine
from viprepro.training.loading import seeded_loader

# A member without batch norm and without random augmentation: then a two-process run and a
# one-process run differ only by floating-point summation order (gradients reduced across
# ranks, per-rank means), not by the statistics of a half batch or by other random draws.
SPEC = {
    "name": "ddp_tiny",
    "task": "classification",
    "model": {
        "name": "timm/vit_tiny_patch16_224",
        "kwargs": {"img_size": 24, "patch_size": 8, "embed_dim": 16, "depth": 1, "num_heads": 2},
    },
    "seed": 0,
    "recipe": {
        "epochs": 3,
        "batch_size": 4,
        "input_size": 24,
        "cache_decoded": True,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "augment": {"random_resized_crop": False, "hflip": False},
    },
    "claimed": {"top1": {"value": 0.5}},
}
# Measured: 1.8e-7 (largest absolute weight difference after 3 epochs, 9 optimiser steps).
# float32 sums of the same numbers in another order differ by ~1e-7 relative; training
# carries such differences forward without amplifying them much over a few steps.
WEIGHT_TOLERANCE = 1e-5


# --- the distributed sampler ---------------------------------------------------------------


def _single_process_batches(size: int, batch: int, seed: int, drop_last: bool) -> list[list[int]]:
    """What the engine's one-process training loader yields in an epoch: the reference order."""
    generator = torch.Generator()
    loader = seeded_loader(list(range(size)), batch, shuffle=True, workers=0, generator=generator, drop_last=drop_last)
    generator.manual_seed(seed)
    return [b.tolist() for b in loader]


@pytest.mark.parametrize("size,batch,drop_last", [(12, 4, True), (13, 4, True), (13, 4, False), (9, 4, False)])
def test_rank_shares_add_up_to_the_single_process_epoch(size, batch, drop_last):
    seed = derive_seed(7, 0, 3, 1)
    single = _single_process_batches(size, batch, seed, drop_last)
    world = 2
    samplers = [distributed.RankBatchSampler(size, batch, drop_last=drop_last, rank=r, world_size=world) for r in range(world)]
    for sampler in samplers:
        sampler.set_epoch(seed)
    shares = [list(s) for s in samplers]
    assert all(len(share) == len(single) for share in shares), "every rank takes part in every step"
    scales = [s.loss_scales() for s in samplers]
    for k, reference in enumerate(single):
        union = sorted(i for r in range(world) for i in (shares[r][k] if scales[r][k] else []))
        assert union == sorted(reference), f"step {k}: the ranks' samples are not the single-process batch"
        # DDP averages over ranks; weights n_r * world / n summing to world make that average
        # the mean over the global batch.
        assert sum(scales[r][k] for r in range(world)) == pytest.approx(world)


def test_rank_order_is_a_function_of_seed_member_and_epoch():
    def order(seed, member, epoch, rank):
        sampler = distributed.RankBatchSampler(20, 4, drop_last=True, rank=rank, world_size=2)
        sampler.set_epoch(derive_seed(derive_seed(seed, member), epoch, 1))
        return list(sampler)

    assert order(0, 0, 1, 0) == order(0, 0, 1, 0)
    assert order(0, 0, 1, 0) != order(0, 0, 2, 0) != order(0, 1, 1, 0)
    assert order(0, 0, 1, 0) != order(1, 0, 1, 0)
    assert order(0, 0, 1, 0) != order(0, 0, 1, 1)


def test_short_last_batch_gives_the_rank_without_a_sample_a_weightless_stand_in():
    sampler = distributed.RankBatchSampler(9, 4, drop_last=False, rank=1, world_size=2)
    sampler.set_epoch(5)
    shares, scales = list(sampler), sampler.loss_scales()
    assert len(shares[-1]) == 1 and scales[-1] == 0.0  # 9 = 4 + 4 + 1: rank 1 has nothing in the last batch
    assert scales[:-1] == [1.0, 1.0]


def test_sampler_refuses_to_run_without_an_epoch():
    with pytest.raises(RuntimeError, match="set_epoch"):
        list(distributed.RankBatchSampler(8, 4, drop_last=True, rank=0, world_size=2))


# --- the global batch ----------------------------------------------------------------------


def test_global_batch_not_divisible_by_the_world_size_is_refused_naming_the_key(tmp_path):
    recipe = {"batch_size": 6, "accumulate_steps": 2}
    assert distributed.per_rank_batch(recipe, 2) == 3
    with pytest.raises(UserError) as caught:
        distributed.per_rank_batch(recipe, 4, spec_path=tmp_path / "spec.yaml")
    message = caught.value.message
    assert "spec.yaml (recipe.batch_size)" in message and "global batch 12" in message and "world size 4" in message
    assert "\n" not in message


def test_engine_refuses_the_batch_before_training(tmp_path):
    """No process group is needed: the check comes before any collective call."""
    task = get_task("classification")
    spec = copy.deepcopy(SPEC)
    spec["recipe"]["batch_size"] = 5
    context = distributed.Context(rank=0, world_size=2, local_world_size=2)
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=tmp_path, seed=0, context=context)
    with pytest.raises(UserError, match=r"recipe.batch_size.*not divisible by world size 2"):
        engine.train(run, tmp_path / "m.pt", tmp_path / "state")
    assert not (tmp_path / "m.pt").exists()


def test_sync_batchnorm_on_the_cpu_is_refused(tmp_path):
    task = get_task("classification")
    spec = copy.deepcopy(SPEC)
    spec["recipe"]["sync_batchnorm"] = True
    subset = tiny_dataset(task, tmp_path, SMOKE_DATASETS["classification"])["subset"]
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=subset, seed=0, context=distributed.Context(rank=0, world_size=2))
    with pytest.raises(UserError, match="recipe.sync_batchnorm"):
        engine.train(run, tmp_path / "m.pt", tmp_path / "state")


# --- the launch command --------------------------------------------------------------------


def test_launch_prefix_is_plain_python_for_one_process():
    assert distributed.launch_prefix({"nproc_per_node": 1, "nnodes": 1}) == "python"
    assert distributed.launch_prefix(None) == "python"
    assert distributed.slurm_resources({"nproc_per_node": 4, "nnodes": 1}) == {}


def test_launch_prefix_uses_torchrun_standalone_on_one_node_and_srun_across_nodes():
    assert (
        distributed.launch_prefix({"nproc_per_node": 2, "nnodes": 1}) == "python -m torch.distributed.run --standalone --nproc-per-node 2"
    )
    multi = distributed.launch_prefix({"nproc_per_node": 4, "nnodes": 2, "rdzv_port": 29400})
    assert multi.startswith("srun --ntasks=2 --cpus-per-task=1 --kill-on-bad-exit=1 ")
    assert "--gpus-per-task=4" in distributed.launch_prefix({"nproc_per_node": 4, "nnodes": 2}, gpus_per_task=4)
    assert '--nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-id "$SLURM_JOB_ID"' in multi
    assert distributed.slurm_resources({"nproc_per_node": 4, "nnodes": 2}) == {"nodes": 2, "tasks": 2, "tasks_per_gpu": 0, "mpi": "srun"}


def test_torchrun_variables_give_the_context():
    context = distributed.Context.from_environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (context.rank, context.local_rank, context.world_size, context.active, context.is_main) == (3, 1, 4, True, False)
    assert not distributed.Context.from_environment({}).active


# --- two processes, for real ---------------------------------------------------------------


def _spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "ddp_tiny.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


def _train_command(spec: Path, subset: Path, out: Path, *, nproc: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        str(REPO / "workflow_scripts" / "train.py"),
        "--task",
        "classification",
        "--spec",
        str(spec),
        "--subset",
        str(subset),
        "--seed",
        "0",
        "--out",
        str(out),
        "--threads",
        "2",
        "--device",
        "cpu",
        "--determinism",
        "strict",
    ]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    return env


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _run(command: list[str], log: Path, timeout: float = 600) -> None:
    with open(log, "wb") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=REPO, timeout=timeout)
    assert done.returncode == 0, log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def tiny_subset(tmp_path_factory):
    task = get_task("classification")
    return tiny_dataset(task, tmp_path_factory.mktemp("ddp_data"), SMOKE_DATASETS["classification"])["subset"]


@pytest.mark.slow
def test_two_process_member_trains_resumes_after_a_kill_and_matches_one_process(tmp_path, tiny_subset):
    spec = _spec_file(tmp_path)

    # 1. An uninterrupted two-process run through the pipeline's training script.
    full = tmp_path / "full" / "model.pt"
    _run(_train_command(spec, tiny_subset, full, nproc=2), tmp_path / "full.log")
    trained = checkpoint.load(full)
    record = json.loads((full.parent / "train_record.json").read_text())
    assert trained["distributed"]["world_size"] == 2 and record["distributed"]["world_size"] == 2
    assert record["training_options"]["world_size"] == 2 and record["training_options"]["bit_exactness_costs"]
    # Rank 0 audits every rank's reads: together they read every training file.
    train_files = {e["path"] for e in json.loads((tiny_subset / "subset_manifest.json").read_text())["splits"]["train"]}
    assert record["file_audit"]["passed"] and record["file_audit"]["training_files_opened"] == len(train_files)
    assert record["data_read"]["digest"] == record["data_read"]["expected_digest"]
    assert not (full.parent / "state").exists(), "the resume state is removed after a finished run"
    assert len(json.loads((full.parent / "history.json").read_text())) == SPEC["recipe"]["epochs"]
    # One MLflow run for the two processes: rank 0's, finished, with its per-epoch metrics.
    import mlflow

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert len(mlflow.MlflowClient().get_metric_history(runs[0].info.run_id, "train_loss")) == SPEC["recipe"]["epochs"]

    # 2. The same run killed (SIGKILL to torchrun and both workers) once epoch 1's state is
    #    written, i.e. during epoch 2, then started again: it resumes to the same weights.
    killed = tmp_path / "killed" / "model.pt"
    state = killed.parent / "state" / "last.pt"
    with open(tmp_path / "killed.log", "wb") as out:
        proc = subprocess.Popen(
            _train_command(spec, tiny_subset, killed, nproc=2),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            cwd=REPO,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 600
            while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            victims = [proc.pid, *_descendants(proc.pid)]
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            proc.wait(timeout=60)
    assert state.exists() and not killed.exists(), (tmp_path / "killed.log").read_text(errors="replace")[-3000:]
    stopped_after = checkpoint.load(state)["epoch"] + 1
    assert stopped_after < SPEC["recipe"]["epochs"]
    _run(_train_command(spec, tiny_subset, killed, nproc=2), tmp_path / "resumed.log")
    assert f"resuming from {state} after epoch {stopped_after}" in (tmp_path / "resumed.log").read_text()
    resumed = checkpoint.load(killed)
    assert resumed["final_weights_digest"] == trained["final_weights_digest"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in trained["history"]]

    # 3. The one-process run of the same spec: equal within WEIGHT_TOLERANCE, not bit for bit.
    apply_level("strict")
    torch.set_num_threads(1)
    single = engine.train(
        engine.TrainingRun(task=get_task("classification"), spec=load_spec(spec), subset_dir=tiny_subset, seed=0),
        tmp_path / "single.pt",
        tmp_path / "single_state",
    )
    largest = max(float((single["model"][k].float() - trained["model"][k].float()).abs().max()) for k in single["model"])
    print(f"\nlargest weight difference, two processes vs one: {largest:.3g} (tolerance {WEIGHT_TOLERANCE})")
    assert largest <= WEIGHT_TOLERANCE
    for one, two in zip(single["history"], trained["history"]):
        assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
        assert two["val_top1"] == one["val_top1"]


# --- the rule ------------------------------------------------------------------------------


def _dry_run(tmp_path: Path, overlay: str | None) -> subprocess.CompletedProcess:
    from testutils import pipeline_env, snakemake_command

    files = [str(REPO / "tests" / "data" / "tiny_config.yaml")]
    if overlay is not None:
        (tmp_path / "overlay.yaml").write_text(overlay)
        files.append(str(tmp_path / "overlay.yaml"))
    env = pipeline_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        snakemake_command()
        + ["-n", "-p", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path / "work"), "--configfile", *files],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_rule_launches_torchrun_only_when_the_config_asks(tmp_path):
    single = _dry_run(tmp_path, None)
    assert single.returncode == 0, single.stderr[-3000:]
    commands = [line.removeprefix("Shell command: ") for line in single.stdout.splitlines() if "workflow_scripts/train.py" in line]
    assert commands and all(line.startswith("python ") for line in commands), "one process: the command is unchanged"

    two = _dry_run(tmp_path, "distributed: {nproc_per_node: 2}\n")
    assert two.returncode == 0, two.stderr[-3000:]
    commands = [line.removeprefix("Shell command: ") for line in two.stdout.splitlines() if "workflow_scripts/train.py" in line]
    assert commands and all(line.startswith("python -m torch.distributed.run --standalone --nproc-per-node 2 ") for line in commands)

    refused = _dry_run(tmp_path, "distributed: {nproc_per_node: 3}\n")  # the smoke spec's batch_size is 16
    assert refused.returncode != 0
    assert "classification_smoke.yaml (recipe.batch_size): global batch 16" in refused.stdout + refused.stderr

    unknown = _dry_run(tmp_path, "distributed: {nprocs: 2}\n")
    assert unknown.returncode != 0 and "nprocs" in unknown.stdout + unknown.stderr
