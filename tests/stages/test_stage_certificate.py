"""The certificate's stage section: each stage's recipe, curves, time and audit, the probe
against the random init, and the ablation's band beside the submission's."""

from __future__ import annotations

from viprepro.report import certificate, certificate_stages, document
from viprepro.tasks import get_task

STAGES = [
    {"name": "rotation", "kind": "pretext", "model": {"name": "resnet_small"}, "recipe": {"epochs": 2, "pretext": {"name": "rotation"}}},
    {"name": "finetune", "kind": "supervised", "init": {"from": "rotation"}, "model": {"name": "resnet_small"}, "recipe": {"epochs": 2}},
]


def history(val: bool) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.0 / e, "lr": 0.1, **({"val_top1": 0.3 * e} if val else {})} for e in (1, 2)]


def record(seed: int, gain: float) -> dict:
    chain = [
        {"stage": "rotation", "history": history(False), "wall_seconds": 10.0 + seed, "file_audit": {"passed": True}},
        {"stage": "finetune", "history": history(True), "wall_seconds": 5.0, "file_audit": {"passed": True}},
    ]
    probe = {"stage": "rotation", "epochs": [{"epoch": e, "linear_top1": 0.4 + gain * e, "knn_top1": 0.3 + gain * e} for e in (0, 1, 2)]}
    return {"seed": seed, "member": 0, "chain": chain, "probes": [probe]}


def band(mean: float) -> dict:
    return {"metrics": [{"metric": "top1", "band": {"n": 3, "mean": mean, "std": 0.01}}]}


def evidence(*, gains=(0.1, 0.1), ablation=True) -> certificate.CertificateInputs:
    spec = {"stages": STAGES, "ensemble": 1, "ablation": "plain" if ablation else None}
    verdict = {"spec": spec, "submission": "multi", "task": "classification", "claimed_seed": 0, **band(0.9)}
    return certificate.CertificateInputs(
        verdict=verdict,
        train_records=[record(seed, gain) for seed, gain in enumerate(gains)],
        histories={},
        scores={},
        score_folders={},
        ablation={"submission": "plain", **band(0.85)} if ablation else None,
    )


def render(inputs, tmp_path) -> str:
    drawn = certificate_stages.draw(inputs, tmp_path, get_task("classification"))
    assert all((tmp_path / f"{name}.png").stat().st_size for name in ("stage_rotation", "stage_finetune", "probe_rotation"))
    doc = document.Document("t", [], [certificate_stages.section(inputs, drawn)])
    return document.to_markdown(doc, tmp_path)


def test_the_stage_section_shows_each_stage_the_probe_and_the_ablation(tmp_path):
    text = render(evidence(), tmp_path)
    assert "| rotation | pretext | from scratch | 10.5000 ± 0.7071 |" in text and "| finetune | supervised | init rotation |" in text
    assert "linear probe beats the random init's in 2 of 2 runs" in text
    assert "| linear probe top-1 (val) | 0.4000 ± 0.0000 | 0.6000 ± 0.0000 |" in text
    assert "plain (last stage's recipe from scratch) | 0.8500" in text and "Mean difference with the earlier stages: +0.0500" in text


def test_a_probe_that_learnt_nothing_and_a_missing_ablation_are_said(tmp_path):
    text = render(evidence(gains=(0.1, -0.05), ablation=False), tmp_path)
    assert "beats the random init's in 1 of 2 runs" in text
    assert "No ablation is named" in text
