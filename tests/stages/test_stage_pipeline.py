"""The stage rules: `snakemake -n` chains each member's stages in order; the pipeline runs them (slow)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from testutils import REPO, pipeline_env, snakemake_command

from viprepro.specs.load import load_spec

CONFIG = REPO / "tests/stages/config.yaml"
CHAIN = ["pretrain_member", "train_stage_member", "distill_member", "collect_member", "predict_submission"]


def snakemake(workdir, *args, timeout=900, config=CONFIG):
    return subprocess.run(
        [*snakemake_command(), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(config), *args],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=timeout,
    )


def dry_run_jobs(text: str) -> list[dict]:
    """Each job of `snakemake -n` output: rule, inputs, outputs, wildcards."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:|localrule \w+:)", text):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head:
            continue
        fields = dict(re.findall(r"^    (input|output|wildcards): (.*)$", block, flags=re.M))
        jobs.append(
            {
                "rule": head.group(1),
                "input": [p.strip() for p in fields.get("input", "").split(",") if p.strip()],
                "output": [p.strip() for p in fields.get("output", "").split(",") if p.strip()],
                "wildcards": dict(item.strip().split("=", 1) for item in fields.get("wildcards", "").split(",") if "=" in item),
            }
        )
    return jobs


def test_dry_run_lists_each_stage_of_each_member_in_order(tmp_path):
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = dry_run_jobs(result.stdout)
    members = {(j["wildcards"]["seed"], j["wildcards"]["member"]) for j in jobs if j["rule"] == "pretrain_member"}
    assert members == {(s, m) for s in ("0", "1") for m in ("0", "1")}  # 2 seeds x ensemble of 2
    for seed, member in members:
        chain = [
            next(
                j
                for j in jobs
                if j["rule"] == rule
                and j["wildcards"].get("submission") == "stages_three_stage"
                and j["wildcards"].get("seed") == seed
                and j["wildcards"].get("member", member) == member
            )
            for rule in CHAIN
        ]
        for earlier, later in zip(chain, chain[1:]):  # each job reads the model the one before wrote
            assert any(out.endswith("model.pt") and out in later["input"] for out in earlier["output"]), (earlier["rule"], later["rule"])
        assert [j["wildcards"].get("stage") for j in chain[:3]] == ["rotation_ssl", "finetune", "student"]
    probes = [j for j in jobs if j["rule"] == "probe_member"]
    assert len(probes) == 4 and all(any("stage_rotation_ssl/backbones" in i for i in j["input"]) for j in probes)
    trained = {j["wildcards"]["submission"] for j in jobs if j["rule"] == "train_member"}
    assert trained == {"stages_ablation"}  # a multi-stage spec trains stage by stage; its ablation as usual


def test_lint_is_clean_with_a_multi_stage_spec(tmp_path):
    result = snakemake(tmp_path, "--lint")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize(
    ("spec_path", "chain"),
    [
        ("classification_multistage_cpu.yaml", ["pretrain_member", "train_stage_member", "collect_member", "predict_submission"]),
        ("top2020/top2020_cls2_zhao_distill_r50.yaml", ["pretrain_member", "distill_member", "collect_member", "predict_submission"]),
    ],
)
def test_dry_run_of_the_shipped_multi_stage_specs(tmp_path, spec_path, chain):
    spec = load_spec(REPO / "config/submissions" / spec_path)
    result = snakemake(tmp_path, "-n", config=REPO / "tests/stages/shipped_config.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = [j for j in dry_run_jobs(result.stdout) if j["wildcards"].get("submission") == spec["name"]]
    for seed in ("0", "1"):
        ordered = [next(j for j in jobs if j["rule"] == rule and j["wildcards"]["seed"] == seed) for rule in chain]
        for earlier, later in zip(ordered, ordered[1:]):
            assert any(out.endswith("model.pt") and out in later["input"] for out in earlier["output"]), (earlier["rule"], later["rule"])
        assert [j["wildcards"].get("stage") for j in ordered[:2]] == [stage["name"] for stage in spec["stages"]]


@pytest.mark.slow
def test_the_pipeline_trains_every_stage_audits_the_chain_and_nests_the_runs(tmp_path):
    result = snakemake(tmp_path, "--cores", "2", timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results/classification/stages_three_stage"
    record = json.loads((results / "seed_0/member_0/train_record.json").read_text())
    assert [entry["stage"] for entry in record["chain"]] == ["rotation_ssl", "finetune", "student"]
    assert record["chain"][0]["file_audit"]["labels_withheld"] and record["chain"][0]["file_audit"]["passed"]
    assert record["probes"][0]["epochs"][0]["epoch"] == 0
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["audits"]["pretrained_weights"]["passed"], verdict["audits"]["pretrained_weights"]["problems"]
    assert verdict["audits"]["data_access"]["passed"], verdict["audits"]["data_access"]["problems"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results/mlflow/mlflow.db'}")
    experiment = client.get_experiment_by_name("viprepro-classification")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("stage") == "member"}
    assert len(parents) == 4
    stage_runs = [r for r in runs if r.data.tags.get("training_stage")]
    assert len(stage_runs) == 16  # 3 stages + 1 probe, per member
    assert all(r.data.tags.get("mlflow.parentRunId") in parents for r in stage_runs)
    assert all("tracking" not in key and "run_id" not in key for r in stage_runs for key in r.data.params)
    certificate = (results / "certificate/certificate.md").read_text()
    assert "Stages" in certificate and "stages_ablation (last stage's recipe from scratch)" in certificate
    assert "linear probe beats the random init's in" in certificate
    assert all((results / "certificate/figures" / f"{name}.png").stat().st_size for name in ("stage_student", "probe_rotation_ssl"))
