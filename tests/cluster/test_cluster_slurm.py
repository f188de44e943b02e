"""The SLURM profile against a real SLURM: a single-node cluster on localhost.

Installs Debian's slurmctld, slurmd, slurm-client and munge when missing, starts munged,
slurmctld and slurmd with a private key, socket, state and ports, runs the tiny pipeline
with `--profile profiles/slurm`, and checks that every non-local job went through sbatch and
that the results equal those of a local run. Needs root (the daemons run as root here);
without it the test is skipped with the reason printed.

SLURM's `srun`, which the executor plugin calls inside each job, drops every SLURM_*
variable (SLURM_CONF too) and so reads /etc/slurm/slurm.conf: the test writes that file
for its lifetime and refuses to touch a machine that already has one.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from viprepro.training import checkpoint

pytestmark = pytest.mark.slow

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# written by viprepro tests/cluster/test_cluster_slurm.py; removed when the test ends"
# The pipeline's rules: init_tracking is a local rule, every other one must be a SLURM job.
# The pipeline's steps that must have gone through sbatch (any further rule must too, unless
# it is a local rule such as init_tracking).
CORE_RULES = {
    "synthesize_dataset",
    "subset_dataset",
    "train_member",
    "predict_submission",
    "score_submission",
    "judge_submission",
    "leaderboard",
}

SLURM_CONF = """{marker}
ClusterName=viprepro-ci
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
# No cgroups in a container: track processes by parent PID and do not bind tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: sacct answers nothing, hence `slurm-status-command: squeue` in the profile,
# which needs finished jobs kept visible for a while (MinJobAge, seconds).
AccountingStorageType=accounting_storage/none
MinJobAge=600
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
{node}
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _node_line() -> str:
    """This machine as slurmd sees it (`slurmd -C`), named localhost."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True, timeout=60).stdout
    line = next(l for l in out.splitlines() if l.startswith("NodeName="))
    return re.sub(r"^NodeName=\S+", "NodeName=localhost", line) + " State=UNKNOWN"


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory, helpers):
    """munged + slurmctld + slurmd on localhost; yields the environment for the SLURM clients."""
    helpers.require_root("starting munged, slurmctld and slurmd")
    helpers.require_services("slurm")
    if SYSTEM_CONF.exists() and MARKER not in SYSTEM_CONF.read_text(errors="replace"):
        helpers.skip_loudly(f"{SYSTEM_CONF} exists: this machine has its own SLURM, which the test will not replace")

    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o755)
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir()
    (root / "munge").chmod(0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(Path("/dev/urandom").open("rb").read(1024))
    key.chmod(0o600)
    conf = SLURM_CONF.format(marker=MARKER, root=root, ctld_port=helpers.free_port(), slurmd_port=helpers.free_port(), node=_node_line())
    (root / "slurm.conf").write_text(conf)
    env = helpers.pipeline_env(SLURM_CONF=str(SYSTEM_CONF))

    daemons = []
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.write_text(conf)
    try:
        socket_path = root / "munge" / "munge.socket"
        daemons.append(
            helpers.Daemon(
                "munged",
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--socket={socket_path}",
                    f"--key-file={key}",
                    f"--pid-file={root}/munge/munged.pid",
                    f"--seed-file={root}/munge/munged.seed",
                    f"--log-file={root}/log/munged.log",
                ],
                root / "log" / "munged.out",
            )
        )
        helpers.wait_for(socket_path.exists, timeout=20, what="munged", log=root / "log" / "munged.out")
        daemons.append(helpers.Daemon("slurmctld", ["slurmctld", "-D", "-f", str(SYSTEM_CONF)], root / "log" / "slurmctld.out", env=env))
        daemons.append(
            helpers.Daemon("slurmd", ["slurmd", "-D", "-N", "localhost", "-f", str(SYSTEM_CONF)], root / "log" / "slurmd.out", env=env)
        )

        def node_idle() -> bool:
            state = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, env=env, timeout=20).stdout.strip()
            return state == "idle"

        helpers.wait_for(node_idle, timeout=60, what="the SLURM node (sinfo state idle)", log=root / "log" / "slurmctld.log")
        yield env
    finally:
        try:
            if daemons and daemons[-1].alive():
                # Our cluster's jobs only: cancel what is left, so no job step outlives slurmd.
                subprocess.run(["scancel", "--full", "--user=root"], env=env, timeout=30, check=False)
                time.sleep(1)
            helpers.stop_all(daemons)
        finally:
            if SYSTEM_CONF.exists() and MARKER in SYSTEM_CONF.read_text(errors="replace"):
                SYSTEM_CONF.unlink()


def _planned_jobs(snakemake_output: str) -> tuple[Counter, set[str]]:
    """Jobs per rule from Snakemake's 'Job stats' table, and the rules it ran locally."""
    table = snakemake_output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    planned = Counter()
    for line in table.splitlines()[3:]:
        rule, count = line.split()
        if rule not in ("all", "total"):
            planned[rule] = int(count)
    local_rules = set(re.findall(r"^localrule (\w+):", snakemake_output, flags=re.MULTILINE)) - {"all"}
    return planned, local_rules


def _slurm_jobs(env: dict) -> list[dict]:
    """Every job slurmctld still remembers (MinJobAge keeps finished ones): id, rule, state."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%j|%T|%k"], capture_output=True, text=True, env=env, timeout=30, check=True
    ).stdout
    jobs = []
    for line in out.splitlines():
        job_id, name, state, comment = line.split("|", 3)
        rule = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", comment)  # the plugin's --comment
        jobs.append({"id": job_id, "run": name, "state": state, "rule": rule.group(1) if rule else comment})
    return jobs


def test_tiny_pipeline_on_slurm_matches_local_run(slurm_cluster, tmp_path, helpers):
    env = slurm_cluster
    started = time.monotonic()
    local_dir, slurm_dir = tmp_path / "local", tmp_path / "slurm"
    # The local reference runs beside the SLURM run: the SLURM run spends most of its time
    # waiting for job states, and the results must not depend on who ran what, or when.
    local: dict = {}

    def run_local() -> None:
        try:
            local["run"] = helpers.run_snakemake(local_dir, "--cores", "1", check=False)
        except BaseException as exc:  # pytest.fail on a timeout: hand it to the test's thread
            local["error"] = exc

    local_thread = threading.Thread(target=run_local)
    local_thread.start()
    try:
        done = helpers.run_snakemake(
            slurm_dir,
            "--profile",
            str(helpers.REPO / "profiles" / "slurm"),
            # a fast local cluster: first job-state query after 2 s instead of 20 s
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--seconds-between-status-checks",
            "2",
            env=env,
        )
    finally:
        local_thread.join()
    if "error" in local:
        raise local["error"]
    assert local["run"].returncode == 0, f"the local reference run failed:\n{local['run'].stdout[-4000:]}"
    duration = time.monotonic() - started

    # Every job of a non-local rule went through sbatch, once, and completed; local rules did not.
    jobs = _slurm_jobs(env)
    assert jobs, "squeue lists no job: nothing went through SLURM"
    assert {job["state"] for job in jobs} == {"COMPLETED"}, f"SLURM jobs that did not complete: {jobs}"
    planned, local_rules = _planned_jobs(done.stdout)
    submitted = Counter(job["rule"] for job in jobs)
    assert dict(submitted) == {r: n for r, n in planned.items() if r not in local_rules}, f"planned {planned}, local {local_rules}"
    assert CORE_RULES <= submitted.keys() and "init_tracking" in local_rules
    assert len({job["run"] for job in jobs}) == 1, "the jobs belong to more than one snakemake run"
    # ... and each left its SLURM log (the profile keeps successful ones) in logs/slurm/.
    slurm_logs = sorted((slurm_dir / "logs" / "slurm").rglob("*.log"))
    assert {p.stem for p in slurm_logs} == {job["id"] for job in jobs}
    assert {p.parts[len(slurm_dir.parts) + 2] for p in slurm_logs} == {f"rule_{rule}" for rule in submitted}

    # The results equal those of the local run, file by file.
    slurm_digests, local_digests = helpers.result_digests(slurm_dir), helpers.result_digests(local_dir)
    assert slurm_digests.keys() == local_digests.keys()
    assert any(key.endswith("model.pt") for key in slurm_digests) and any(key.endswith("verdict.json") for key in slurm_digests)
    different = {k for k in slurm_digests if slurm_digests[k] != local_digests[k]}
    assert not different, f"SLURM and local results differ: {sorted(different)}"
    print(
        f"\nSLURM run: {len(jobs)} sbatch jobs ({', '.join(sorted(submitted))}), {len(slurm_digests)} result digests "
        f"equal to the local run, {duration:.0f} s"
    )


def test_one_member_as_a_two_task_slurm_job(slurm_cluster, tmp_path, helpers):
    """A member with `distributed: {nnodes: 2}`: one sbatch job of two tasks, `srun torchrun`.

    The local cluster has one node, so both tasks (each a torchrun agent with one rank) run
    on it (`nodes=1` overrides the rule's one node per task); they meet in the c10d
    rendezvous on the job's first node exactly as two nodes would. The member's weights
    equal those of a two-process torchrun run of the same spec outside SLURM.
    """
    env = slurm_cluster
    overlay = tmp_path / "two_tasks.yaml"
    overlay.write_text("distributed: {nnodes: 2, nproc_per_node: 1}\n")
    member = "results/classification/classification_smoke/seed_0/member_0"
    workdir = tmp_path / "slurm"
    earlier = {job["id"] for job in _slurm_jobs(env)}  # the cluster outlives a test: other tests' jobs are listed too
    helpers.run_snakemake(
        workdir,
        "--profile",
        str(helpers.REPO / "profiles" / "slurm"),
        "--set-resources",
        "train_member:nodes=1",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "2",
        f"{member}/model.pt",
        configfiles=[overlay],
        env=env,
    )

    jobs = [job for job in _slurm_jobs(env) if job["rule"] == "train_member" and job["id"] not in earlier]
    assert len(jobs) == 1 and jobs[0]["state"] == "COMPLETED", jobs
    shown = subprocess.run(["scontrol", "show", "job", jobs[0]["id"]], capture_output=True, text=True, env=env, timeout=30).stdout
    assert re.search(r"\bNumTasks=2\b", shown), shown

    trained = checkpoint.load(workdir / member / "model.pt")
    record = json.loads((workdir / member / "train_record.json").read_text())
    assert trained["distributed"]["world_size"] == 2 and record["distributed"]["nnodes"] == 2
    assert record["file_audit"]["passed"], record["file_audit"]
    assert not (workdir / member / "state").exists()

    # The same member trained by two processes of one torchrun outside SLURM: the same weights.
    local = tmp_path / "local" / "model.pt"
    command = [
        str(helpers.PYTHON),
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        str(helpers.REPO / "workflow_scripts" / "train.py"),
        "--task",
        "classification",
        "--spec",
        str(helpers.REPO / "tests" / "data" / "classification_smoke.yaml"),
        "--subset",
        str(workdir / "results" / "data" / "classification" / "subset"),
        "--seed",
        "0",
        "--member",
        "0",
        "--out",
        str(local),
        "--threads",
        "1",
        "--device",
        "cpu",
        "--determinism",
        "strict",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=helpers.pipeline_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert checkpoint.load(local)["final_weights_digest"] == trained["final_weights_digest"]
