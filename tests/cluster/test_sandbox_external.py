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
from pathlib import Path

import pytest
import yaml

from viprepro.errors import UserError
from viprepro.external import check_available, collect_submission, external_part, run_step
from viprepro.external.steps import build_environment
from viprepro.schemas_io import validate
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
    spec = {"name": repo.name, "task": "classification", "kind": "external", "claimed": {"top1": {"value": 0.25}},
            "external": {"repository": str(repo), **external}}
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
    (repo / "targets.json").write_text(json.dumps({
        "ground_truth": str(dataset["hidden"] / "test_gt.csv"), "hidden_dir": str(dataset["hidden"]),
        "source_file": str(source_file), "host_results": str(host_results), "port": listener.port,
        "allocate_mb": 1024, "host_pid": os.getpid(),
    }))
    spec, spec_path = _spec(tmp_path, repo, train="python {repo}/attack.py {output}", predict="true",
                            limits={"memory_mb": 512, "train_minutes": 2})
    part = external_part(spec, spec_path)
    env_dir = tmp_path / "env"
    build_environment(part, env_dir, log=tmp_path / "env.log")
    before = {"repo": _tree(repo), "subset": _tree(dataset["subset"]), "hidden": _tree(dataset["hidden"])}
    output = tmp_path / "train_output"
    try:
        result = run_step("train", part, environment=env_dir, subset=dataset["subset"], output=output,
                          log=tmp_path / "train.log", threads=1, seed=0)
    finally:
        listener.close()

    log = Path(result.log).read_text()
    assert result.ok, f"the attack script itself should run to its end:\n{log}"
    report = {r["attempt"]: r for r in map(json.loads, (l for l in log.splitlines() if l.startswith("{")))}
    expected_errors = {
        "read_ground_truth": "FileNotFoundError", "read_source_dataset": "FileNotFoundError",
        "list_hidden_folder": "FileNotFoundError", "connect_host_loopback": "ConnectionRefusedError",
        "connect_internet": "OSError: [Errno 101] Network is unreachable", "resolve_dns": "gaierror",
        "write_repository": "Read-only file system", "write_subset": "Read-only file system",
        "write_root": "Read-only file system", "write_host_results": "FileNotFoundError",
        "allocate_beyond_memory_limit": "MemoryError", "signal_host_process": "ProcessLookupError",
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
    spec, spec_path = _spec(tmp_path, repo, train="sleep 300 & sleep 300; echo never", predict="true",
                            limits={"train_minutes": 0.05})
    part = external_part(spec, spec_path)
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    result = run_step("train", part, environment=tmp_path / "env", subset=dataset["subset"], output=tmp_path / "out",
                      log=tmp_path / "train.log", threads=1, seed=0)
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
    spec, spec_path = _spec(tmp_path, SUBMISSIONS / "benign",
                            train="python {repo}/train.py --train {train_dir} --out {output} --seed {seed}",
                            predict="python {repo}/predict.py --model {model_dir} --subset {subset} --out {output}/submission.csv")
    part = external_part(spec, spec_path)
    build_environment(part, tmp_path / "env", log=tmp_path / "env.log")
    common = {"environment": tmp_path / "env", "subset": dataset["subset"], "threads": 1, "seed": 0}
    trained = run_step("train", part, output=tmp_path / "model", log=tmp_path / "train.log", **common)
    assert trained.ok, Path(trained.log).read_text()
    predicted = run_step("predict", part, output=tmp_path / "prediction", model_dir=tmp_path / "model", log=tmp_path / "predict.log", **common)
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

    spec = {"name": "external_majority", "task": "classification", "kind": "external",
            "description": "stdlib majority-class baseline from tests/cluster/external_submissions/benign",
            "claimed": {"top1": {"value": 0.25, "tolerance": {"absolute": 0.25}}},
            "external": {"repository": str(SUBMISSIONS / "benign"),
                         "train": "python {repo}/train.py --train {train_dir} --out {output} --seed {seed}",
                         "predict": "python {repo}/predict.py --model {model_dir} --subset {subset} --out {output}/submission.csv",
                         "limits": {"train_minutes": 5, "predict_minutes": 5, "memory_mb": 2000}}}
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
    from viprepro.spec import load_spec

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
