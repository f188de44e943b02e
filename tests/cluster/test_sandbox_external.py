"""External submissions in the bubblewrap sandbox: contained when hostile, scored when not.

Installs Debian's bubblewrap when missing; skips with the reason printed when it cannot, or
when the machine cannot create the namespaces a sandbox needs.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from viprepro.errors import UserError
from viprepro.external import check_available, collect_submission, external_part, run_step
from viprepro.external.steps import build_environment
from viprepro.files.schemas_io import validate
from viprepro.tasks import get_task

SUBMISSIONS = Path(__file__).parent / "external_submissions"
TASK = get_task("classification")
TINY = {"classes": 4, "subset_per_class": 12, "extra_train_per_class": 2, "val_per_class": 8, "image_size": 32}


@pytest.fixture(scope="module")
def sandbox_ready(helpers):
    helpers.require_services("sandbox")
    reason = check_available()
    if reason:
        helpers.skip_loudly(reason)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny synthetic classification dataset cut into its public subset and hidden ground truth."""
    root = tmp_path_factory.mktemp("data")
    options = dict(TINY)
    validate(options, "synthetic.classification.schema.yaml")  # fills in the defaults
    synthetic = TASK.synthesize(root / "synthetic", seed=0, options=options)
    TASK.subset(Path(synthetic["source"]), Path(synthetic["manifests"]), root / "subset", root / "hidden", link="hardlink", options={})
    return {"root": root, "source": Path(synthetic["source"]), "subset": root / "subset", "hidden": root / "hidden"}


def _spec(tmp_path: Path, repo: Path, **external) -> tuple[dict, Path]:
    spec = {
        "name": repo.name,
        "task": "classification",
        "kind": "external",
        "claimed": {"top1": {"value": 0.25}},
        "external": {"repository": str(repo), **external},
    }
    path = tmp_path / f"{repo.name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return spec, path


class Listener:
    """A TCP port on the host's loopback that records every connection it gets."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_hostile_submission_is_contained(sandbox_ready, dataset, tmp_path):
    repo = tmp_path / "hostile"
    shutil.copytree(SUBMISSIONS / "hostile", repo)
    host_results = tmp_path / "results"
    host_results.mkdir()
    listener = Listener()
    source_file = next(p for p in sorted(dataset["source"].rglob("*")) if p.is_file())
    (repo / "targets.json").write_text(
        json.dumps(
            {
                "ground_truth": str(dataset["hidden"] / "test_gt.csv"),
                "hidden_dir": str(dataset["hidden"]),
                "source_file": str(source_file),
                "host_results": str(host_results),
                "port": listener.port,
                "allocate_mb": 1024,
                "host_pid": os.getpid(),
            }
        )
    )
    spec, spec_path = _spec(
        tmp_path, repo, train="python {repo}/attack.py {output}", predict="true", limits={"memory_mb": 512, "train_minutes": 2}
    )
    part = external_part(spec, spec_path)
    env_dir = tmp_path / "env"
    build_environment(part, env_dir, log=tmp_path / "env.log")
    before = {"repo": _tree(repo), "subset": _tree(dataset["subset"]), "hidden": _tree(dataset["hidden"])}
    output = tmp_path / "train_output"
    try:
        result = run_step(
            "train", part, environment=env_dir, subset=dataset["subset"], output=output, log=tmp_path / "train.log", threads=1, seed=0
        )
    finally:
        listener.close()

    log = Path(result.log).read_text()
    assert result.ok, f"the attack script itself should run to its end:\n{log}"
    report = {r["attempt"]: r for r in map(json.loads, (l for l in log.splitlines() if l.startswith("{")))}
    expected_errors = {
        "read_ground_truth": "FileNotFoundError",
        "read_source_dataset": "FileNotFoundError",
        "list_hidden_folder": "FileNotFoundError",
        "connect_host_loopback": "ConnectionRefusedError",
        "connect_internet": "OSError: [Errno 101] Network is unreachable",
        "resolve_dns": "gaierror",
        "write_repository": "Read-only file system",
        "write_subset": "Read-only file system",
        "write_root": "Read-only file system",
        "write_host_results": "FileNotFoundError",
        "allocate_beyond_memory_limit": "MemoryError",
        "signal_host_process": "ProcessLookupError",
    }
    assert set(report) == {*expected_errors, "write_output"}, f"attempts reported: {sorted(report)}\n{log}"
    for attempt, error in expected_errors.items():
        assert not report[attempt]["allowed"], f"{attempt} was allowed: {report[attempt]}"
        assert error in report[attempt]["error"], f"{attempt}: {report[attempt]['error']}"
    assert report["write_output"]["allowed"], report["write_output"]

    # Seen from the host: nothing arrived, nothing changed, only the output folder was written.
    assert listener.connections == 0
    assert {"repo": _tree(repo), "subset": _tree(dataset["subset"]), "hidden": _tree(dataset["hidden"])} == before
    assert list(host_results.iterdir()) == []
    assert sorted(p.name for p in output.iterdir()) == ["report.txt"]


def test_time_limit_kills_the_whole_sandbox(sandbox_ready, dataset, tmp_path):
    repo = tmp_path / "sleeper"
    repo.mkdir()
    spec, spec_path = _spec(tmp_path, repo, train="sleep 300 & sleep 300; echo never", predict="true", limits={"train_minutes": 0.05})
    part = external_part(spec, spec_path)
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    result = run_step(
        "train",
        part,
        environment=tmp_path / "env",
        subset=dataset["subset"],
        output=tmp_path / "out",
        log=tmp_path / "train.log",
        threads=1,
        seed=0,
    )
    assert result.timed_out and result.exit_code is None and not result.ok
    assert 2.5 <= result.seconds < 30
    assert "time limit" in Path(result.log).read_text() and "never" not in Path(result.log).read_text()


def test_spec_errors_name_the_problem(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    spec, path = _spec(tmp_path, repo, train="python train.py --gt {hidden}", predict="true")
    with pytest.raises(UserError, match=r"placeholder \{hidden\} is not available to the train command"):
        external_part(spec, path)
    spec, path = _spec(tmp_path, repo, train="true", predict="python p.py {train_dir}")
    with pytest.raises(UserError, match=r"placeholder \{train_dir\} is not available to the predict command"):
        external_part(spec, path)
    spec, path = _spec(tmp_path, tmp_path / "missing", train="true", predict="true")
    with pytest.raises(UserError, match="is not a folder"):
        external_part(spec, path)


def test_benign_submission_is_scored(sandbox_ready, dataset, tmp_path):
    spec, spec_path = _spec(
        tmp_path,
        SUBMISSIONS / "benign",
        train="python {repo}/train.py --train {train_dir} --out {output} --seed {seed}",
        predict="python {repo}/predict.py --model {model_dir} --subset {subset} --out {output}/submission.csv",
    )
    part = external_part(spec, spec_path)
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    common = {"environment": tmp_path / "env", "subset": dataset["subset"], "threads": 1, "seed": 0}
    trained = run_step("train", part, output=tmp_path / "model", log=tmp_path / "train.log", **common)
    assert trained.ok, Path(trained.log).read_text()
    predicted = run_step(
        "predict", part, output=tmp_path / "prediction", model_dir=tmp_path / "model", log=tmp_path / "predict.log", **common
    )
    assert predicted.ok, Path(predicted.log).read_text()
    submission = tmp_path / "submission.csv"
    collect_submission(tmp_path / "prediction", TASK.submission_filename, submission)

    gt = TASK.hidden_ground_truth(dataset["hidden"])
    assert TASK.validate(gt, submission, {}) == []
    scores = TASK.score(gt, submission, tmp_path / "scores", mode="strict", options={})
    labels = [line.split(",")[1] for line in Path(gt).read_text().splitlines()[1:]]
    predicted_label = Path(submission).read_text().splitlines()[1].split(",")[1]
    assert scores["top1"] == pytest.approx(labels.count(predicted_label) / len(labels))


def test_external_submission_through_the_pipeline(sandbox_ready, tmp_path, helpers):
    """The tiny pipeline with an external submission beside the engine one: scored and judged the same way."""
    schema = (helpers.REPO / "src" / "viprepro" / "schemas" / "submission.schema.yaml").read_text()
    if "external" not in schema:
        helpers.skip_loudly("the pipeline has no `kind: external` yet (the rule and schema changes of issue 8 are not applied)")
    from mlflow.tracking import MlflowClient

    spec = {
        "name": "external_majority",
        "task": "classification",
        "kind": "external",
        "description": "stdlib majority-class baseline from tests/cluster/external_submissions/benign",
        "claimed": {"top1": {"value": 0.25, "tolerance": {"absolute": 0.25}}},
        "external": {
            "repository": str(SUBMISSIONS / "benign"),
            "train": "python {repo}/train.py --train {train_dir} --out {output} --seed {seed}",
            "predict": "python {repo}/predict.py --model {model_dir} --subset {subset} --out {output}/submission.csv",
            "limits": {"train_minutes": 5, "predict_minutes": 5, "memory_mb": 2000},
        },
    }
    spec_path = tmp_path / "external_majority.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    overlay = tmp_path / "external.yaml"
    engine_spec = helpers.REPO / "tests" / "data" / "classification_smoke.yaml"
    overlay.write_text(yaml.safe_dump({"datasets": {"classification": {"submissions": [str(engine_spec), str(spec_path)]}}}))
    workdir = tmp_path / "run"
    helpers.run_snakemake(workdir, "--cores", "2", configfiles=[overlay], env=helpers.pipeline_env())

    results = workdir / "results" / "classification" / "external_majority"
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["verdict"] == "reproduced" and verdict["submission"] == "external_majority"
    with open(workdir / "results" / "leaderboard.csv", newline="") as fh:
        rows = {row["submission"]: row for row in csv.DictReader(fh)}
    assert rows.keys() == {"classification_smoke", "external_majority"}
    assert float(rows["external_majority"]["reproduced"]) == pytest.approx(verdict["metrics"][0]["reproduced"])
    # The engine submission still went through our engine, the external one never did.
    assert (workdir / "results" / "classification" / "classification_smoke" / "seed_0" / "member_0" / "model.pt").is_file()
    assert not list(results.rglob("model.pt")) and (results / "seed_0" / "external" / "train" / "model.json").is_file()

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'results' / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("viprepro-classification")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id], max_results=200)}
    for stage in ("train", "predict"):
        run = runs[f"external_{stage}/external_majority/seed_0"]
        assert run.info.status == "FINISHED"
        assert run.data.metrics["exit_code"] == 0
        assert run.data.params["command"].startswith(f"python /submission/repo/{stage}.py")
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert f"{stage}.log" in artifacts and any(a.endswith("record.json") for a in artifacts), artifacts
    assert verdict["external"]["0"]["train"]["exit_code"] == 0 and verdict["external"]["0"]["predict"]["exit_code"] == 0


def test_load_spec_checks_external_specs(tmp_path, helpers):
    """`load_spec` fills the external part's defaults and refuses what an external spec cannot have."""
    schema = (helpers.REPO / "src" / "viprepro" / "schemas" / "submission.schema.yaml").read_text()
    if "external" not in schema:
        helpers.skip_loudly("the pipeline has no `kind: external` yet (the rule and schema changes of issue 8 are not applied)")
    from viprepro.specs.load import load_spec

    commands = {"train": "python {repo}/train.py --out {output}", "predict": "python {repo}/predict.py --out {output}"}
    _, path = _spec(tmp_path, SUBMISSIONS / "benign", **commands)
    spec = load_spec(path)
    assert spec["kind"] == "external" and spec["external"]["limits"]["memory_mb"] == 8000
    assert spec["external"]["repository"] == str((SUBMISSIONS / "benign").resolve())

    spec, path = _spec(tmp_path, SUBMISSIONS / "benign", **commands)
    spec["claimed"] = {"top1": {"value": 0.5, "split": "val"}}
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError, match="only claim test-split scores"):
        load_spec(path)
    spec["claimed"] = {"top1": {"value": 0.5}}
    del spec["external"]
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError, match="'external' is a required property"):
        load_spec(path)


# --- limits on the whole process tree (issue 17) -------------------------------------------


class Responsiveness:
    """How late a 50 ms sleep on the host wakes up while a test runs (the host stays usable)."""

    def __init__(self):
        self.worst = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._probe, daemon=True)
        self.thread.start()

    def _probe(self):
        while self.running:
            started = time.monotonic()
            time.sleep(0.05)
            self.worst = max(self.worst, time.monotonic() - started - 0.05)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.worst


HOG_MARK = "viprepro-hog-marker"
HOGS = {  # name: (command, limits, the limit it must hit)
    "fork_bomb": (
        f"python3 -c 'import os\nwhile True:\n    try: os.fork()\n    except OSError: pass' {HOG_MARK}",
        {"processes": 32},
        "processes",
    ),
    "many_processes_each_under_the_memory_limit": (
        f"for i in $(seq 12); do python3 -c 'b = bytearray(60 << 20); import time; time.sleep(60)' {HOG_MARK} & done; wait",
        {"memory_mb": 300},
        "memory",
    ),
    "output_folder_growing_without_end": (
        f'python3 -c \'import os\nfor i in range(10**6):\n    open(f"/submission/output/f{{i}}", "wb").write(bytes(1 << 20))\' {HOG_MARK}',
        {"disk_mb": 40},
        "disk",
    ),
    "cpu_time": (
        f"python3 -c 'while True: pass' {HOG_MARK} & python3 -c 'while True: pass' {HOG_MARK}; wait",
        {"cpu_seconds": 2},
        "cpu_time",
    ),
}


def _leftover_hogs() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"]) if HOG_MARK in " ".join(p.info["cmdline"] or [])]


@pytest.mark.parametrize("name", sorted(HOGS))
def test_resource_limits_end_the_whole_tree(sandbox_ready, tmp_path, name):
    from viprepro.external import sandbox
    from viprepro.external.limits import Enforcer, TreeLimits

    backend = Enforcer(TreeLimits(memory_mb=100, processes=8, cpu_seconds=1, disk_mb=1), tmp_path)
    backend.close()
    if backend.backend == "rlimit" and name == "fork_bomb" and os.geteuid() == 0:
        helpers_skip = "no cgroup can be created here and root ignores RLIMIT_NPROC: a fork bomb would reach the host"
        print(f"\nSKIPPED: {helpers_skip}")
        pytest.skip(helpers_skip)
    command, limits, expected = HOGS[name]
    output = tmp_path / "output"
    output.mkdir()
    probe = Responsiveness()
    result = sandbox.run(
        command,
        [sandbox.Mount(output, "/submission/output", writable=True)],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        log=tmp_path / "hog.log",
        limits=sandbox.Limits(seconds=90, **{"memory_mb": 1000, "processes": 64, "disk_mb": 1000, **limits}),
    )
    worst = probe.stop()
    assert result.resource_limit and result.resource_limit["limit"] == expected, (
        result.resource_limit,
        Path(result.log).read_text()[-2000:],
    )
    assert not result.ok and not result.timed_out and result.seconds < 60
    assert "killed" in Path(result.log).read_text() and backend.backend in result.enforcement.replace(" v", "").replace(
        "cgroup groups", "cgroup1"
    )
    assert _leftover_hogs() == []
    assert worst < 2.0, f"the host stalled for {worst:.1f} s"
    record = result.as_record()
    assert record["resource_limit"]["limit"] == expected and record["enforcement"]


@pytest.mark.parametrize("name", ["many_processes_each_under_the_memory_limit", "output_folder_growing_without_end", "cpu_time"])
def test_rlimit_fallback_polls_the_tree(sandbox_ready, tmp_path, name):
    """Without a cgroup (forced here), polling the tree still ends it; the record says how it was enforced.
    The fork bomb is left out: as root, with RLIMIT_NPROC ignored, polling is all that bounds it."""
    from viprepro.external import sandbox

    command, limits, expected = HOGS[name]
    output = tmp_path / "output"
    output.mkdir()
    result = sandbox.run(
        command,
        [sandbox.Mount(output, "/submission/output", writable=True)],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        log=tmp_path / "hog.log",
        backend="rlimit",
        limits=sandbox.Limits(seconds=90, **{"memory_mb": 1000, "processes": 64, "disk_mb": 1000, **limits}),
    )
    assert result.resource_limit and result.resource_limit["limit"] == expected, (
        result.resource_limit,
        Path(result.log).read_text()[-2000:],
    )
    assert "rlimits and polling" in result.enforcement and result.seconds < 60 and _leftover_hogs() == []


def test_limits_come_from_the_spec(sandbox_ready, dataset, tmp_path):
    repo = tmp_path / "forker"
    repo.mkdir()
    spec, spec_path = _spec(tmp_path, repo, train=HOGS["fork_bomb"][0], predict="true", limits={"processes": 16, "train_minutes": 1})
    part = external_part(spec, spec_path)
    assert part["limits"]["processes"] == 16 and part["limits"]["disk_mb"] == 10240
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    result = run_step(
        "train",
        part,
        environment=tmp_path / "env",
        subset=dataset["subset"],
        output=tmp_path / "out",
        log=tmp_path / "train.log",
        threads=1,
        seed=0,
    )
    assert result.resource_limit["limit"] == "processes" and "16 processes" in result.resource_limit["detail"], result.resource_limit


# --- decoys, audits, the install in the sandbox (issue 12) ---------------------------------

CHEAT = """import json, os, sys
targets = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "targets.json")))
for path in (targets["ground_truth"], targets["source_file"]):
    try:
        print("read", path, len(open(path, "rb").read()))
    except OSError as exc:
        print("refused", path, exc)
try:
    print("test images:", len(os.listdir("/data/test/imgs")))
except OSError as exc:
    print("no test images:", exc)
open(os.path.join(sys.argv[1], "model.json"), "w").write("{}")
"""


def _cheater(tmp_path: Path, dataset: dict) -> Path:
    repo = tmp_path / "cheater"
    repo.mkdir()
    (repo / "train.py").write_text(CHEAT)
    source_file = next(p for p in sorted(dataset["source"].rglob("*")) if p.is_file())
    (repo / "targets.json").write_text(
        json.dumps({"ground_truth": str(dataset["hidden"] / "test_gt.csv"), "source_file": str(source_file)})
    )
    return repo


def test_cheating_submission_fails_named_audits(sandbox_ready, dataset, tmp_path):
    repo = _cheater(tmp_path, dataset)
    (repo / "pretrained.pth").write_bytes(os.urandom(2 << 20))
    spec, spec_path = _spec(tmp_path, repo, train="python {repo}/train.py {output}", predict="true")
    part = external_part(spec, spec_path)
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    result = run_step(
        "train",
        part,
        environment=tmp_path / "env",
        subset=dataset["subset"],
        output=tmp_path / "out",
        log=tmp_path / "train.log",
        threads=1,
        seed=0,
        forbidden=[dataset["hidden"], dataset["source"]],
    )
    log = Path(result.log).read_text()
    audits = result.as_record()["audits"]
    assert result.exit_code == 0, log
    assert "read " in log and " 0\n" in log  # it read a decoy: an empty file, nothing of the real content
    isolation = audits["sandbox_isolation"]
    assert not isolation["passed"] and any(p.endswith("hidden/test_gt.csv") and p.startswith("opened") for p in isolation["problems"])
    assert any(str(dataset["source"].resolve()) in p for p in isolation["problems"]), isolation
    assert not audits["test_images_hidden"]["passed"] and "listed /data/test/imgs" in audits["test_images_hidden"]["problems"]
    assert not audits["weight_files"]["passed"] and audits["weight_files"]["problems"] == ["repository: pretrained.pth (2.0 MB)"]
    # The real hidden folder was never inside: what the cheater read was empty.
    assert (dataset["hidden"] / "test_gt.csv").stat().st_size > 0


def test_honest_submission_passes_the_audits(sandbox_ready, dataset, tmp_path):
    spec, spec_path = _spec(
        tmp_path,
        SUBMISSIONS / "benign",
        train="python {repo}/train.py --train {train_dir} --out {output} --seed {seed}",
        predict="python {repo}/predict.py --model {model_dir} --subset {subset} --out {output}/submission.csv",
    )
    part = external_part(spec, spec_path)
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    common = {
        "environment": tmp_path / "env",
        "subset": dataset["subset"],
        "threads": 1,
        "seed": 0,
        "forbidden": [dataset["hidden"], dataset["source"]],
    }
    trained = run_step("train", part, output=tmp_path / "model", log=tmp_path / "train.log", **common)
    predicted = run_step("predict", part, output=tmp_path / "prediction", model_dir=tmp_path / "model", log=tmp_path / "p.log", **common)
    assert trained.ok and predicted.ok, Path(trained.log).read_text() + Path(predicted.log).read_text()
    assert set(trained.audits) == {"sandbox_isolation", "test_images_hidden", "weight_files"}
    assert set(predicted.audits) == {"sandbox_isolation", "weight_files"}
    assert all(a["passed"] for a in [*trained.audits.values(), *predicted.audits.values()]), json.dumps([trained.audits, predicted.audits])[
        :3000
    ]


def test_train_command_cannot_take_the_test_images(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    spec, path = _spec(tmp_path, repo, train="python train.py --test {test_images}", predict="true")
    with pytest.raises(UserError, match=r"placeholder \{test_images\} is not available to the train command"):
        external_part(spec, path)


def _wheel(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel (no build step, so pip installs it offline)."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-1.0.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = (
        "".join(
            f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},{len(text.encode())}\n"
            for path, text in files.items()
        )
        + f"{info}/RECORD,,\n"
    )
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(member, text)
    return path


def test_requirements_install_in_the_sandbox(sandbox_ready, dataset, tmp_path):
    """pip runs in the sandbox (network namespace shared for that step only); a package whose
    .pth file reads the hidden ground truth whenever Python starts is caught by the audit of
    the step that starts Python, and never runs on the host (no `pip freeze` there)."""
    repo = _cheater(tmp_path, dataset)
    (repo / "wheels").mkdir()
    gt = dataset["hidden"] / "test_gt.csv"
    _wheel(
        repo / "wheels",
        "helper",
        {
            "helper.py": "VALUE = 1\n",
            "helper.pth": f"import sys; open({str(gt)!r}, 'rb').read() if 'train.py' in ' '.join(sys.argv) else None\n",
        },
    )
    (repo / "requirements.txt").write_text("helper==1.0\n")
    (repo / "train.py").write_text("import helper, os, sys\nopen(os.path.join(sys.argv[1], 'model.json'), 'w').write('{}')\n")
    spec, spec_path = _spec(
        tmp_path,
        repo,
        train="python {repo}/train.py {output}",
        predict="true",
        requirements="requirements.txt",
        pip_args=["--no-index", "--find-links", "/submission/repo/wheels"],
    )
    part = external_part(spec, spec_path)
    record = build_environment(part, tmp_path / "env", log=tmp_path / "env.log", forbidden=[dataset["hidden"], dataset["source"]])
    assert "helper==1.0" in record["packages"], (tmp_path / "env.log").read_text()
    assert record["install"]["network"] is True and record["install"]["exit_code"] == 0
    assert record["audits"]["sandbox_isolation"]["passed"]
    assert all(str(dataset["hidden"]) not in m["source"] for m in record["install"]["mounts"])
    result = run_step(
        "train",
        part,
        environment=tmp_path / "env",
        subset=dataset["subset"],
        output=tmp_path / "out",
        log=tmp_path / "train.log",
        threads=1,
        seed=0,
        forbidden=[dataset["hidden"], dataset["source"]],
    )
    assert result.exit_code == 0, Path(result.log).read_text()
    assert not result.audits["sandbox_isolation"]["passed"]
    assert any(p.endswith("test_gt.csv") for p in result.audits["sandbox_isolation"]["problems"])


def test_workflow_step_records_a_limit_hit_and_a_failed_audit(sandbox_ready, dataset, tmp_path):
    """The pipeline's train and predict steps do not fail on a limit hit or a failed audit: they
    write records the verdict judges, and placeholder outputs."""
    import subprocess
    import sys

    repo = _cheater(tmp_path, dataset)
    spec, spec_path = _spec(tmp_path, repo, train="python {repo}/train.py {output}", predict="python -c 'print(1)'")
    part = external_part(spec, spec_path)
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    script = Path(__file__).resolve().parents[2] / "workflow_scripts" / "external.py"
    seed_dir = tmp_path / "results" / "seed_0"
    (seed_dir / "external").mkdir(parents=True)  # snakemake makes the outputs' folders
    common = [
        "--spec",
        str(spec_path),
        "--environment",
        str(tmp_path / "env"),
        "--subset",
        str(dataset["subset"]),
        "--seed",
        "0",
        "--forbid",
        str(dataset["hidden"]),
        str(dataset["source"]),
    ]
    train = subprocess.run(
        [
            sys.executable,
            str(script),
            "train",
            *common,
            "--out",
            str(seed_dir / "external" / "train"),
            "--record",
            str(seed_dir / "external" / "train_record.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    record = json.loads((seed_dir / "external" / "train_record.json").read_text())
    assert record["placeholder"] and not record["audits"]["sandbox_isolation"]["passed"] and record["resource_limit"] is None
    predict = subprocess.run(
        [
            sys.executable,
            str(script),
            "predict",
            *common,
            "--model-dir",
            str(seed_dir / "external" / "train"),
            "--out",
            str(seed_dir / "submission.csv"),
            "--record",
            str(seed_dir / "submission.csv.record.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert predict.returncode == 0, predict.stderr[-3000:]
    predicted = json.loads((seed_dir / "submission.csv.record.json").read_text())
    assert predicted["placeholder"] and "not run" in predicted["skipped"] and not predicted["audits"]["sandbox_isolation"]["passed"]
    assert (seed_dir / "submission.csv").read_bytes() == b""
    # The score step recognises the placeholder: no score, and no `invalid_submission` either.
    score = subprocess.run(
        [
            sys.executable,
            str(script.with_name("score.py")),
            "--task",
            "classification",
            "--hidden",
            str(dataset["hidden"]),
            "--submission",
            str(seed_dir / "submission.csv"),
            "--out",
            str(seed_dir / "scores"),
            "--submission-name",
            "cheater",
            "--no-figures",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert score.returncode == 0, score.stderr[-3000:]
    scores = json.loads((seed_dir / "scores" / "scores.json").read_text())
    assert scores["status"] == "not_run" and "not run" in scores["reason"] and not scores["problems"]
