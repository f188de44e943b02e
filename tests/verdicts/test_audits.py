"""Rule-compliance audits: weights from scratch only, the provided data only, no leakage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from viprepro import evidence
from viprepro.audit import FileAccessRecorder
from viprepro.fileio import canonical_digest
from viprepro.provenance import code_version
from viprepro.training_record import audit_opened_files

MANIFEST = {
    "splits": {
        "train": [{"path": "train/a/1.JPEG"}, {"path": "train/b/2.JPEG"}],
        "val": [{"path": "val/a/3.JPEG"}],
        "test": [{"path": "test/imgs/img_0.JPEG"}],
    },
    "split_digests": {"train": "t" * 64, "val": "v" * 64, "test": "x" * 64},
}


def record(**changes) -> dict:
    base = {"seed": 0, "member": 0, "initial_weights_digest": "w0", "train_splits": ["train"],
            "train_data_digest": canonical_digest({"train": "t" * 64}), "file_audit": {"passed": True, "violations": []}}
    return {**base, **changes}


def test_clean_records_pass_every_audit():
    audits = evidence.audits([record()], MANIFEST, {(0, 0): "w0"})
    assert all(a["passed"] for a in audits.values())


def test_each_violation_is_caught_and_named():
    audits = evidence.audits(
        [record(initial_weights_digest="pretrained"), record(member=1, train_data_digest="other", initial_weights_digest="w1"),
         record(member=2, initial_weights_digest="w2", file_audit={"passed": False, "violation_count": 1, "violations": ["/data/hidden/test_gt.csv"]})],
        MANIFEST, {(0, 0): "w0", (0, 1): "w1", (0, 2): "w2"})
    assert audits["pretrained_weights"]["problems"] == ["seed 0 member 0: initial weights differ from a fresh seeded initialisation"]
    assert audits["test_label_leakage"]["problems"] == ["seed 0 member 1: training data digest is not the digest of the train subset"]
    assert "seed 0 member 2: opened 1 file(s) outside its splits: /data/hidden/test_gt.csv" in audits["data_access"]["problems"]


def test_a_loader_that_opens_a_file_outside_its_subset_is_caught(tmp_path):
    subset, hidden = tmp_path / "subset", tmp_path / "hidden"
    for rel in ("train/a/1.JPEG", "train/b/2.JPEG", "val/a/3.JPEG", "test/imgs/img_0.JPEG"):
        (subset / rel).parent.mkdir(parents=True, exist_ok=True)
        (subset / rel).write_bytes(b"x")
    hidden.mkdir()
    (hidden / "test_gt.csv").write_text("Image IDs,Labels\n")
    with FileAccessRecorder() as opened:
        for rel in ("train/a/1.JPEG", "val/a/3.JPEG"):
            (subset / rel).read_bytes()
    assert audit_opened_files(opened.paths, subset, MANIFEST, ["train"], forbidden=[hidden])["passed"]
    with FileAccessRecorder() as opened:
        (subset / "train/a/1.JPEG").read_bytes()
        (subset / "test/imgs/img_0.JPEG").read_bytes()   # a test input
        (hidden / "test_gt.csv").read_text()             # the hidden labels
    audit = audit_opened_files(opened.paths, subset, MANIFEST, ["train"], forbidden=[hidden])
    assert not audit["passed"] and audit["violation_count"] == 2
    assert any(v.endswith("img_0.JPEG") for v in audit["violations"]) and any(v.endswith("test_gt.csv") for v in audit["violations"])


def test_a_model_that_asks_for_pretrained_weights_fails_the_job():
    code = (
        "from viprepro.audit import forbid_weight_downloads\n"
        "forbid_weight_downloads()\n"
        "import torchvision\n"
        "torchvision.models.resnet18(weights='DEFAULT')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "PretrainedWeightsRefused" in result.stderr
    assert "trained from scratch" in result.stderr


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_a_dirty_tree_is_flagged(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    code_version.cache_clear()
    clean = code_version(str(repo))
    assert clean["dirty"] is False and clean["diff_sha256"] is None and len(clean["commit"]) == 40
    (repo / "a.py").write_text("x = 2\n")
    code_version.cache_clear()
    dirty = code_version(str(repo))
    assert dirty["dirty"] is True and len(dirty["diff_sha256"]) == 64 and dirty["commit"] == clean["commit"]
    code_version.cache_clear()


def test_determinism_record_reports_a_differing_inference():
    record = evidence.determinism([record_ops(["op warned"])], {0: {"identical": True, "repeats": 2}, 1: {"identical": False, "repeats": 2}}, "warn")
    assert record["inference_identical"] == {"0": True, "1": False}
    assert record["nondeterministic_operations"] == ["op warned"] and not record["passed"]


def record_ops(operations):
    return {**record(), "nondeterministic_operations": operations}
