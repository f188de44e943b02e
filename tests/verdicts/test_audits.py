"""Rule-compliance audits: weights from scratch only, the provided data only, no leakage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from viprepro.files.fileio import canonical_digest, sha256_bytes
from viprepro.jobs.provenance import code_version
from viprepro.judging import evidence
from viprepro.training.guards import FileAccessRecorder
from viprepro.training.record import audit_opened_files

MANIFEST = {
    "splits": {
        "train": [{"path": "train/a/1.JPEG"}, {"path": "train/b/2.JPEG"}],
        "val": [{"path": "val/a/3.JPEG"}],
        "test": [{"path": "test/imgs/img_0.JPEG"}],
    },
    "split_digests": {"train": "t" * 64, "val": "v" * 64, "test": "x" * 64},
}


def record(**changes) -> dict:
    base = {
        "seed": 0,
        "member": 0,
        "initial_weights_digest": "w0",
        "train_splits": ["train"],
        "train_data_digest": canonical_digest({"train": "t" * 64}),
        "file_audit": {"passed": True, "violations": []},
        "data_read": {"modified": [], "modified_count": 0, "outside_splits": [], "outside_splits_count": 0},
    }
    return {**base, **changes}


def test_clean_records_pass_every_audit():
    audits = evidence.audits([record()], MANIFEST, {(0, 0): "w0"})
    assert all(a["passed"] for a in audits.values())


def test_each_violation_is_caught_and_named():
    audits = evidence.audits(
        [
            record(initial_weights_digest="pretrained"),
            record(member=1, train_data_digest="other", initial_weights_digest="w1"),
            record(
                member=2,
                initial_weights_digest="w2",
                file_audit={"passed": False, "violation_count": 1, "violations": ["/data/hidden/test_gt.csv"]},
            ),
        ],
        MANIFEST,
        {(0, 0): "w0", (0, 1): "w1", (0, 2): "w2"},
    )
    assert audits["pretrained_weights"]["problems"] == [
        "seed 0 member 0: initial weights differ from an independent from-scratch build of the model"
    ]
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
        (subset / "test/imgs/img_0.JPEG").read_bytes()  # a test input
        (hidden / "test_gt.csv").read_text()  # the hidden labels
    audit = audit_opened_files(opened.paths, subset, MANIFEST, ["train"], forbidden=[hidden])
    assert not audit["passed"] and audit["violation_count"] == 2
    assert any(v.endswith("img_0.JPEG") for v in audit["violations"]) and any(v.endswith("test_gt.csv") for v in audit["violations"])


def test_a_model_that_asks_for_pretrained_weights_fails_the_job():
    code = (
        "from viprepro.training.guards import forbid_weight_downloads\n"
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
    record = evidence.determinism(
        [record_ops(["op warned"])], {0: {"identical": True, "repeats": 2}, 1: {"identical": False, "repeats": 2}}, "warn"
    )
    assert record["inference_identical"] == {"0": True, "1": False}
    assert record["nondeterministic_operations"] == ["op warned"] and not record["passed"]


def record_ops(operations):
    return {**record(), "nondeterministic_operations": operations}


def test_a_record_without_a_digest_of_the_bytes_read_fails_the_leakage_audit():
    legacy = {k: v for k, v in record().items() if k != "data_read"}
    audits = evidence.audits([legacy], MANIFEST, {(0, 0): "w0"})
    assert audits["test_label_leakage"]["problems"] == ["seed 0 member 0: no digest of the bytes training read was recorded"]


def test_spawned_and_forked_processes_record_into_the_job(tmp_path):
    """What a child process opens is merged into the job's record, however it was started."""
    import multiprocessing

    from viprepro.training.loading import init_worker

    subset = tmp_path / "subset"
    subset.mkdir()
    (subset / "a.bin").write_bytes(b"a")
    (subset / "b.bin").write_bytes(b"b")
    with FileAccessRecorder(digest_root=subset) as recorder:
        for method, name in (("fork", "a.bin"), ("spawn", "b.bin")):
            child = multiprocessing.get_context(method).Process(target=_open_in_worker, args=(str(subset / name),))
            child.start()
            child.join(120)
            assert child.exitcode == 0
        opened = recorder.opened()
    recorder.cleanup()
    assert opened[str(subset / "a.bin")]["sha256"] == sha256_bytes(b"a")
    assert opened[str(subset / "b.bin")]["sha256"] == sha256_bytes(b"b")
    assert init_worker  # the DataLoader worker_init_fn that the spawned child imitates


def _open_in_worker(path: str) -> None:
    from viprepro.training.loading import init_worker

    init_worker(0)
    Path(path).read_bytes()


def test_scan_weight_files_finds_weights_by_suffix_and_size(tmp_path):
    from viprepro.training.guards import scan_weight_files

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "model.PTH").write_bytes(b"\0" * 2000)
    (tmp_path / "small.pt").write_bytes(b"\0" * 10)
    (tmp_path / "notes.txt").write_bytes(b"\0" * 5000)
    (tmp_path / "weights.safetensors").symlink_to(tmp_path / "ckpt" / "model.PTH")  # an annexed weight file
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "pack.bin").write_bytes(b"\0" * 5000)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "final.ckpt").write_bytes(b"\0" * 5000)
    found = scan_weight_files(tmp_path, 1000)
    assert [f["path"] for f in found] == ["ckpt/model.PTH", "outputs/final.ckpt", "weights.safetensors"]
    assert [f["path"] for f in scan_weight_files(tmp_path, 1000, exclude=[tmp_path / "outputs"])] == [
        "ckpt/model.PTH",
        "weights.safetensors",
    ]
    assert scan_weight_files(tmp_path, 10_000) == []


def test_external_audits_and_resource_limits_decide_the_verdict():
    from viprepro.judging.verdict import judge, overall

    train = {
        "seed": 0,
        "audits": {
            "network": {"passed": True, "detail": "no network", "problems": []},
            "hidden_folder": {"passed": False, "detail": "hidden folder invisible", "problems": ["tried to open /hidden/test_gt.csv"]},
        },
        "resource_limit": None,
    }
    predict = {
        "seed": 0,
        "audits": {"network": {"passed": True, "detail": "no network", "problems": []}},
        "resource_limit": {"limit": "memory", "detail": "killed at 4000 MB"},
    }
    audits, limits = evidence.merge_external_audits([{**train, "step": "train"}, {**predict, "step": "predict"}])
    assert audits["network"]["passed"] and not audits["hidden_folder"]["passed"]
    assert audits["hidden_folder"]["problems"] == ["seed 0 train: tried to open /hidden/test_gt.csv"]
    judgement = judge("top1", {"value": 0.5}, {0: {"top1": 0.5}}, claimed_seed=0)
    assert overall([judgement], audits=audits, problems=[], resource_limits=[])[0] == "audit_failed"
    assert overall([judgement], audits=audits, problems=[], resource_limits=limits)[0] == "resource_limit"
    assert limits == [{"limit": "memory", "detail": "killed at 4000 MB", "where": "seed 0 predict"}]
    # the score step's record of a placeholder file (the step never ran): no score, the audit decides
    not_run = judge("top1", {"value": 0.5}, {0: {"status": "not_run", "problems": [], "reason": "not run"}}, claimed_seed=0)
    assert not_run["verdict"] == "no_score"
    assert overall([not_run], audits=audits, problems=[], resource_limits=[])[0] == "audit_failed"


def test_files_opened_by_many_threads_at_once_are_all_recorded(tmp_path):
    """A loader that probes files from a thread pool: no open may be lost while another thread logs."""
    from concurrent.futures import ThreadPoolExecutor

    files = []
    for i in range(200):
        files.append(tmp_path / f"{i}.bin")
        files[-1].write_bytes(bytes([i % 256]) * 64)
    with FileAccessRecorder(digest_root=tmp_path) as recorder:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda path: path.read_bytes(), files))
    opened = recorder.opened()
    assert {str(f) for f in files} <= set(opened)
    assert all("sha256" in opened[str(f)] for f in files)
