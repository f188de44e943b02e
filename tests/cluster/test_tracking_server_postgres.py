"""The shared tracking mode: the pipeline logs to `mlflow server` backed by PostgreSQL.

Starts a private PostgreSQL (Debian's `postgresql`, installed when missing) and an MLflow
server on loopback, runs the tiny pipeline with 8 jobs at once against the server and
checks that every job's run arrived, finished, in the right experiment, with its metrics
and artifacts, and nothing else. Both daemons are stopped by their PIDs.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

SEEDS, MEMBERS = 4, 2  # 8 training chains at once, then 4 predictions and 4 scorings at once
PARALLEL_JOBS = SEEDS * MEMBERS
DB_USER, DB_NAME = "viprepro", "mlflow"


def _postgres_bin(helpers) -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        helpers.skip_loudly("PostgreSQL's server programs are not in /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _run_as(user: str | None) -> dict:
    """Popen arguments that run a program as `user` (PostgreSQL refuses to run as root)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@pytest.fixture(scope="module")
def tracking_server(helpers):
    """PostgreSQL + `mlflow server` on loopback; yields the tracking URI and the database URI."""
    helpers.require_services("postgres")
    bindir = _postgres_bin(helpers)
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        try:
            pwd.getpwnam(user)
        except KeyError:
            helpers.skip_loudly("running PostgreSQL as root needs the 'postgres' system user, which is missing")
    as_user = _run_as(user)

    # Not under pytest's temporary folder: that one is private to us, and PostgreSQL runs as
    # its own user.
    root = Path(tempfile.mkdtemp(prefix="viprepro-tracking-"))
    root.chmod(0o755)
    pgdata, sockets, artifacts = root / "pgdata", root / "sockets", root / "artifacts"
    for folder in (pgdata, sockets):
        folder.mkdir()
        if user:
            os.chown(folder, as_user["user"], as_user["group"])
    pg_port, mlflow_port = helpers.free_port(), helpers.free_port()
    daemons = []
    try:
        _check([str(bindir / "initdb"), "-D", str(pgdata), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync"], **as_user)
        daemons.append(
            helpers.Daemon(
                "postgres",
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(pgdata),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(pg_port),
                    "-k",
                    str(sockets),
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ],
                root / "postgres.log",
                **as_user,
            )
        )
        psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", DB_USER, "-d", "postgres", "-tAc"]

        def accepts() -> bool:
            return subprocess.run([*psql, "select 1"], capture_output=True, timeout=10).returncode == 0

        helpers.wait_for(accepts, timeout=60, what="PostgreSQL", log=root / "postgres.log")
        _check([*psql, f"create database {DB_NAME}"])
        db_uri = f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{pg_port}/{DB_NAME}"
        # Create MLflow's schema once, before anything connects: concurrent first use of a
        # fresh database races on schema creation.
        _check([str(Path(sys.executable).parent / "mlflow"), "db", "upgrade", db_uri])
        env = helpers.pipeline_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # else 7 job runners outlive a SIGTERM
        daemons.append(
            helpers.Daemon(
                "mlflow server",
                [
                    str(Path(sys.executable).parent / "mlflow"),
                    "server",
                    "--backend-store-uri",
                    db_uri,
                    "--artifacts-destination",
                    str(artifacts),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mlflow_port),
                    "--workers",
                    "2",
                ],
                root / "mlflow-server.log",
                env=env,
            )
        )
        uri = f"http://127.0.0.1:{mlflow_port}"

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as answer:
                    return answer.status == 200
            except OSError:
                return daemons[-1].alive() is False and _raise_dead(daemons[-1])

        helpers.wait_for(healthy, timeout=120, what="mlflow server", log=root / "mlflow-server.log")
        yield {"uri": uri, "db": db_uri, "psql": psql[:-1] + ["-d", DB_NAME, "-tAc"], "root": root, "server": daemons[-1]}
    finally:
        try:
            helpers.stop_all(daemons)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _check(argv: list[str], **popen) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **popen)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return done.stdout


def _raise_dead(daemon) -> bool:
    raise RuntimeError(f"{daemon.name} exited with {daemon.proc.returncode}:\n{daemon.log.read_text(errors='replace')[-3000:]}")


def _spec_with_seeds(tmp_path: Path) -> Path:
    """The tiny config's submission, rerun at SEEDS seeds with MEMBERS ensemble members."""
    spec = yaml.safe_load((REPO / "tests" / "data" / "classification_smoke.yaml").read_text())
    spec.update(name="classification_smoke_parallel", extra_seeds=SEEDS - 1, ensemble=MEMBERS)
    path = tmp_path / "classification_smoke_parallel.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_parallel_jobs_log_everything_to_the_shared_server(tracking_server, tmp_path, helpers):
    from mlflow.tracking import MlflowClient

    overlay = tmp_path / "tracking.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {"tracking_uri": tracking_server["uri"], "datasets": {"classification": {"submissions": [str(_spec_with_seeds(tmp_path))]}}}
        )
    )
    workdir = tmp_path / "run"
    started = time.monotonic()
    done = helpers.run_snakemake(workdir, "--cores", str(PARALLEL_JOBS), configfiles=[overlay])
    duration = time.monotonic() - started

    assert not (workdir / "results" / "mlflow" / "mlflow.db").exists(), "the pipeline fell back to SQLite"
    assert tracking_server["server"].alive()
    client = MlflowClient(tracking_uri=tracking_server["uri"])
    experiments = {e.name: e.experiment_id for e in client.search_experiments()}
    assert {"viprepro-classification", "viprepro-pipeline"} <= experiments.keys()
    runs = client.search_runs(list(experiments.values()), max_results=1000)
    name = "classification_smoke_parallel"
    expected = {
        ("viprepro-classification", "synthesize/classification"),
        ("viprepro-classification", "subset/classification"),
        *{("viprepro-classification", f"train/{name}/seed_{s}/member_{m}") for s in range(SEEDS) for m in range(MEMBERS)},
        *{("viprepro-classification", f"predict/{name}/seed_{s}") for s in range(SEEDS)},
        *{("viprepro-classification", f"score/{name}/seed_{s}") for s in range(SEEDS)},
        ("viprepro-classification", f"verdict/{name}"),
        ("viprepro-pipeline", "init_tracking"),
        ("viprepro-pipeline", "leaderboard"),
    }
    names = {v: k for k, v in experiments.items()}
    got = [(names[r.info.experiment_id], r.info.run_name) for r in runs]
    assert expected <= set(got), f"missing: {sorted(expected - set(got))}"
    assert len(got) == len(set(got)), f"a job logged twice: {sorted(got)}"
    # Nothing lost, whatever rules the pipeline has: each rule that logs has one run per job.
    jobs = _job_counts(done.stdout)
    per_rule = Counter(r.data.tags["rule"] for r in runs)
    assert {rule: jobs.get(rule) for rule in per_rule} == dict(per_rule), f"jobs {jobs}, runs {dict(per_rule)}"
    assert {r.info.status for r in runs} == {"FINISHED"}

    by_name = {r.info.run_name: r for r in runs}
    trains = [by_name[f"train/{name}/seed_{s}/member_{m}"] for s in range(SEEDS) for m in range(MEMBERS)]
    overlap = max(sum(t.info.start_time <= o.info.start_time < t.info.end_time for t in trains) for o in trains)
    assert overlap >= 2, "the training runs never overlapped: the jobs did not write to the server concurrently"
    for s in range(SEEDS):
        for m in range(MEMBERS):
            run = by_name[f"train/{name}/seed_{s}/member_{m}"]
            assert run.data.tags["stage"] == "train" and run.data.tags["rule"] == "train_member"
            history = client.get_metric_history(run.info.run_id, "val_top1")
            assert [h.step for h in history] == [1, 2], "per-epoch metrics lost"
            assert run.data.tags["final_weights_digest"]
        score = by_name[f"score/{name}/seed_{s}"]
        on_disk = json.loads((workdir / "results" / "classification" / name / f"seed_{s}" / "scores" / "scores.json").read_text())
        assert score.data.metrics["top1"] == pytest.approx(on_disk["top1"])
        artifacts = {a.path for a in client.list_artifacts(score.info.run_id)}
        assert {"scores.json", "scores.txt"} <= artifacts, f"artifacts of {score.info.run_name}: {artifacts}"
    verdict = json.loads((workdir / "results" / "classification" / name / "verdict.json").read_text())
    assert by_name[f"verdict/{name}"].data.tags["verdict"] == verdict["verdict"]

    # The database agrees with the server: one row per run, none left RUNNING.
    rows = subprocess.run(
        [*tracking_server["psql"], "select status, count(*) from runs group by status"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert rows == [f"FINISHED|{len(runs)}"]
    print(
        f"\ntracking server: {len(runs)} runs of {sum(jobs.values())} jobs FINISHED in PostgreSQL, "
        f"up to {overlap} training runs at once, {duration:.0f} s"
    )


def _job_counts(snakemake_output: str) -> dict[str, int]:
    """Jobs per rule from the 'Job stats' table Snakemake prints first."""
    table = snakemake_output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = {}
    for line in table.splitlines()[3:]:
        rule, count = line.split()
        if rule not in ("all", "total"):
            counts[rule] = int(count)
    return counts
