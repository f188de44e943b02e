"""The embedded two-stage spec: valid, in the embedded default, chained in order, its claim the band it states.

classification_multistage_cpu.yaml (MoCo v2 pretext -> classification_resnet_small's supervised
recipe) is part of `snakemake all` on the embedded default; its claim must be the mean of the
seed band written in `environment.measured` with the tolerance scripts/seed_band_figures.py
derives, and every run of that band must show the pretext stage beating its random init on
both probes (issue 14's acceptance).
"""

from __future__ import annotations

import copy
import importlib.util
import re

import pytest
from testutils import REPO

from viprepro.files.schemas_io import read_yaml
from viprepro.judging.verdict import Band
from viprepro.specs.load import load_spec

SPEC = REPO / "config/submissions/classification_multistage_cpu.yaml"


def seed_band_figures():
    spec = importlib.util.spec_from_file_location("seed_band_figures", REPO / "scripts/seed_band_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measured_scores(measured: str) -> list[float]:
    """The test top-1 scores listed per CPU kernel set: '... kernels (0.9367, 0.9667, ...)'."""
    groups = re.findall(r"kernels \(([^)]*)\)", measured)
    return [float(value) for group in groups for value in group.split(",")]


def measured_probes(measured: str) -> dict[str, list[tuple[float, float]]]:
    """Per probe, the (random init, after the pretext stage) val top-1 of every run: 'linear 0.795->0.895 ...'."""
    found = {}
    for probe in ("linear", "k-NN"):
        listing = re.search(rf"{re.escape(probe)} probe per run \(random init->pretext\): ([^;]*);", measured)
        assert listing, f"environment.measured lists no {probe} probe per run"
        found[probe] = [(float(a), float(b)) for a, b in re.findall(r"(\d\.\d+)->(\d\.\d+)", listing.group(1))]
    return found


def claim_problems(spec: dict) -> list[str]:
    """How the claim departs from the band environment.measured states (claim = mean, tolerance = PI, rounded up)."""
    scores = measured_scores(spec["environment"]["measured"])
    if len(scores) < 5:
        return [f"environment.measured lists {len(scores)} scores, fewer than a seed band of 5"]
    band = Band.of(scores)
    tolerance = seed_band_figures().round_up(max(band.half_width, max(abs(s - band.mean) for s in scores)))
    claimed = spec["claimed"]["top1"]
    problems = []
    if abs(band.mean - claimed["value"]) > 1e-4:  # the listed scores are rounded to 4 decimals
        problems.append(f"claim {claimed['value']} is not the band's mean {band.mean:.4f}")
    if abs(claimed["tolerance"]["absolute"] - tolerance) > 1e-9:
        problems.append(f"tolerance {claimed['tolerance']['absolute']} is not the band's {tolerance:.3f}")
    return problems


def test_the_spec_validates_and_is_in_the_embedded_default():
    spec = load_spec(SPEC)
    assert [stage["kind"] for stage in spec["stages"]] == ["pretext", "supervised"]
    assert spec["stages"][1]["init"]["from"] == spec["stages"][0]["name"]
    assert spec["embedded_default"] is True
    submissions = read_yaml(REPO / "config/config.yaml")["datasets"]["classification"]["submissions"]
    assert "config/submissions/classification_multistage_cpu.yaml" in submissions
    # its ablation (the finetune recipe from scratch) runs in the same default, so the certificate compares bands
    assert spec["ablation"] == "classification_resnet_small"
    assert "config/submissions/classification_resnet_small.yaml" in submissions
    ablation = load_spec(REPO / "config/submissions/classification_resnet_small.yaml")
    assert ablation["recipe"] == spec["recipe"] and ablation["model"] == spec["model"]


def test_the_claim_is_the_mean_and_prediction_interval_of_the_measured_band():
    spec = load_spec(SPEC)
    assert len(measured_scores(spec["environment"]["measured"])) == 8  # seeds 0-4 on AVX2, 0-2 on DEFAULT kernels
    assert claim_problems(spec) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda spec: spec["claimed"]["top1"].update(value=round(spec["claimed"]["top1"]["value"] + 0.01, 4)),
        lambda spec: spec["claimed"]["top1"]["tolerance"].update(absolute=spec["claimed"]["top1"]["tolerance"]["absolute"] - 0.01),
        lambda spec: spec["environment"].update(measured=spec["environment"]["measured"].replace("kernels (", "kernels (0.5, ", 1)),
    ],
)
def test_a_claim_other_than_its_band_is_caught(change):
    spec = copy.deepcopy(load_spec(SPEC))
    change(spec)
    assert claim_problems(spec)


def test_the_pretext_stage_beats_its_random_init_on_both_probes_in_every_run():
    probes = measured_probes(load_spec(SPEC)["environment"]["measured"])
    for probe, runs in probes.items():
        assert len(runs) == 8, probe
        assert all(after > before for before, after in runs), (probe, runs)


def test_a_run_where_the_pretext_stage_lost_is_caught():
    measured = load_spec(SPEC)["environment"]["measured"]
    first = re.search(r"linear probe per run \(random init->pretext\): (\d\.\d+)->(\d\.\d+)", measured)
    worse = measured.replace(first.group(0), first.group(0)[: -len(first.group(2))] + f"{float(first.group(1)) - 0.01:.3f}", 1)
    runs = measured_probes(worse)["linear"]
    assert not all(after > before for before, after in runs)


@pytest.mark.slow
def test_snakemake_all_on_the_embedded_default_runs_its_stages_in_order(tmp_path):
    """`snakemake -n all` on config/config.yaml: per seed pretrain -> (probe, finetune) -> collect -> predict -> score."""
    from test_stage_pipeline import dry_run_jobs, snakemake

    spec = load_spec(SPEC)
    result = snakemake(tmp_path, "-n", "all", config=REPO / "config/config.yaml", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = [j for j in dry_run_jobs(result.stdout) if j["wildcards"].get("submission") == spec["name"]]
    chain = ["pretrain_member", "train_stage_member", "collect_member", "predict_submission"]
    for seed in map(str, range(1 + spec["extra_seeds"])):
        ordered = [next(j for j in jobs if j["rule"] == rule and j["wildcards"]["seed"] == seed) for rule in chain]
        for earlier, later in zip(ordered, ordered[1:]):
            assert any(out.endswith("model.pt") and out in later["input"] for out in earlier["output"]), (earlier["rule"], later["rule"])
        assert [j["wildcards"]["stage"] for j in ordered[:2]] == ["moco", "finetune"]
        probe = next(j for j in jobs if j["rule"] == "probe_member" and j["wildcards"]["seed"] == seed)
        assert any("stage_moco/backbones" in i for i in probe["input"])
    assert {j["rule"] for j in jobs} >= {"score_submission", "judge_submission", "certify_submission"}
