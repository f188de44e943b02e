"""A small finished classification reproduction, built once per session without training.

The dataset, its subset, the submission files, the scores and the ground-truth figures are
real (the task's own synthesiser, subsetter and scorer, the scoring step's figure code); the
training and verdict records are constructed, with the fields the jobs write, so that the
report tests run in seconds instead of rerunning training.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from testutils import REPO

SYNTH = {"classes": 4, "subset_per_class": 6, "extra_train_per_class": 1, "val_per_class": 5, "image_size": 32}
SEEDS = (0, 1)


def _history(seed: int) -> list[dict]:
    return [
        {"epoch": e, "train_loss": 1.5 / e + 0.05 * seed, "val_top1": 0.3 + 0.1 * e - 0.02 * seed, "lr": 0.05 * 0.5 ** (e - 1)}
        for e in (1, 2, 3)
    ]


def _train_record(seed: int) -> dict:
    return {
        "task": "classification",
        "submission": "report_smoke",
        "seed": seed,
        "member": 0,
        "determinism": "strict",
        "nondeterministic_operations": [],
        "initial_weights_digest": f"{seed:02d}" * 32,
        "final_weights_digest": f"f{seed}" * 32,
        "train_data_digest": "d" * 64,
        "train_splits": ["train"],
        "data_manifest_digest": "m" * 64,
        "parameters": 19756,
        "wall_seconds": 12.5 + seed,
        "cpu_seconds": 10.0,
        "threads": 1,
        "device": "cpu",
        "file_audit": {"passed": True},
    }


def _submission(truth: dict[str, int], seed: int, out: Path) -> None:
    """The true labels with every (3 + seed)-th one shifted: a plausible, imperfect model."""
    rows = [(image, (label + 1) % SYNTH["classes"] if i % (3 + seed) == 0 else label) for i, (image, label) in enumerate(truth.items())]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("Image IDs", "Predictions"))
        writer.writerows(rows)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """The workdir of a finished run: results/ with verdicts, certificates and the leaderboard."""
    from viprepro.files.fileio import write_json
    from viprepro.judging.verdict import judge
    from viprepro.report import certificate, examples, leaderboard, leaderboard_page
    from viprepro.specs.load import load_spec
    from viprepro.tasks import get_task
    from viprepro.tasks.classification.submission import read_ground_truth

    root = tmp_path_factory.mktemp("report_run")
    results = root / "results"
    task = get_task("classification")
    made = task.synthesize(root / "synthetic", seed=0, options=SYNTH)
    subset, hidden = results / "data/classification/subset", results / "data/classification/hidden"
    task.subset(Path(made["source"]), Path(made["manifests"]), subset, hidden, link="copy", options={})
    gt = task.hidden_ground_truth(hidden)
    truth = read_ground_truth(gt)

    spec = load_spec(REPO / "tests/data/classification_smoke.yaml")
    spec.update(name="report_smoke", extra_seeds=1, claimed_log="logs/claimed.csv")
    folder = results / "classification/report_smoke"
    claimed_log = root / "spec/logs/claimed.csv"
    claimed_log.parent.mkdir(parents=True)
    claimed_log.write_text("epoch,train_loss,val_metric\n1,1.4,0.42\n2,0.8,0.5\n3,0.55,0.62\n")
    scores = {}
    for seed in SEEDS:
        seed_dir = folder / f"seed_{seed}"
        _submission(truth, seed, seed_dir / "submission.csv")
        scores[seed] = task.score(gt, seed_dir / "submission.csv", seed_dir / "scores", mode="strict", options={})
        # as the score step records it: each scores.json names its submission and seed
        write_json(seed_dir / "scores/scores.json", {**scores[seed], "submission": "report_smoke", "seed": seed, "split": "test"})
        drawn = examples.render("classification", gt, seed_dir / "submission.csv", subset, seed_dir / "scores/figures")
        write_json(seed_dir / "scores/figures/figures.json", drawn)
        write_json(seed_dir / "member_0/history.json", _history(seed))
        write_json(seed_dir / "member_0/train_record.json", _train_record(seed))

    metric = judge("top1", spec["claimed"]["top1"], scores, 0)
    from viprepro.judging import trajectory

    verdict = {
        "task": "classification",
        "submission": "report_smoke",
        "verdict": metric["verdict"],
        "metrics": [metric],
        "claimed_seed": 0,
        "seeds": list(SEEDS),
        "ensemble": 1,
        "determinism": {
            "level": "strict",
            "nondeterministic_operations": [],
            "inference_repeats": 2,
            "inference_identical": {"0": True, "1": True},
            "passed": True,
        },
        "audits": {
            "pretrained_weights": {"passed": True, "problems": [], "detail": "initial weights re-derived from the seed"},
            "data_access": {"passed": True, "problems": [], "detail": "files opened checked against the manifest"},
            "test_label_leakage": {"passed": True, "problems": [], "detail": "training-data digest checked"},
        },
        "audits_passed": True,
        "efficiency": {
            "parameters": 19756,
            "members": 1,
            "train_wall_seconds": 12.5,
            "train_cpu_seconds": 10.0,
            "inference_samples_per_s": 390.0,
            "flops_per_sample": 3.6e6,
        },
        "provenance": {
            "code_version": {"commit": "0" * 40, "dirty": True, "diff_sha256": "a" * 64, "package_version": "0.1.0"},
            "environment": {
                "python": "3.11.7",
                "torch": "2.9",
                "cuda": None,
                "cudnn": None,
                "device": "test CPU",
                "cpu_count": 2,
                "torch_threads": 1,
                "platform": "Linux",
                "packages_sha256": "p" * 64,
                "packages": {"numpy": "2.0", "torch": "2.9"},
            },
            "spec_digest": "s" * 64,
            "config_hash": "c" * 16,
            "data_manifest_digest": "m" * 64,
            "jobs": [
                {k: _train_record(s)[k] for k in ("seed", "member", "wall_seconds", "cpu_seconds", "threads", "device")} for s in SEEDS
            ],
            "digest": "p" * 64,
        },
        "submission_sha256": {str(s): "5" * 64 for s in SEEDS},
        "spec": spec,
        "trajectory": trajectory.compare(trajectory.read_claimed_log(claimed_log), _history(0), "top1", spec["claimed_log_tolerance"]),
    }
    write_json(folder / "verdict.json", verdict)
    config = {
        "tasks": ["classification"],
        "datasets": {
            "classification": {
                "source": "synthetic",
                "manifests": None,
                "link": "hardlink",
                "synthetic": {"seed": 0, "options": SYNTH},
                "submissions": ["config/submissions/report_smoke.yaml"],
            }
        },
        "scoring_mode": "strict",
        "determinism": "strict",
        "device": "cpu",
    }
    evidence = certificate.gather(
        folder / "verdict.json",
        [folder / f"seed_{s}/member_0/train_record.json" for s in SEEDS],
        [folder / f"seed_{s}/scores" for s in SEEDS],
        config=config,
        claimed_log=claimed_log,
        workdir=root,
    )
    certificate.write(evidence, folder / "certificate")

    # A second submission, not certified, so the leaderboard has rows to sort and a row without a link.
    other = dict(
        verdict,
        submission="report_other",
        verdict="not_reproduced",
        metrics=[dict(metric, reproduced=0.11, difference=0.11 - metric["claimed"], verdict="not_reproduced")],
        efficiency=dict(verdict["efficiency"], parameters=500),
    )
    write_json(results / "classification/report_other/verdict.json", other)
    rows = leaderboard.build_rows([folder / "verdict.json", results / "classification/report_other/verdict.json"])
    leaderboard.write_csv(rows, results / "leaderboard.csv")
    leaderboard_page.write(results / "leaderboard.csv", results / "leaderboard.html")
    return root
