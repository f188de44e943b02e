"""Shared helpers of the cluster tests: Debian packages, daemons stopped by PID, snakemake runs.

These tests start real services (SLURM, PostgreSQL, an MLflow server) and real sandboxes.
They install the Debian packages they need through scripts/ci_services.sh when they can;
when they cannot (not root, no apt-get), they skip with the reason printed, never silently.
Every daemon a test starts is a `Daemon`, stopped by its own PID in the fixture's teardown.
The tests reach these helpers through the `helpers` fixture: a module named `conftest` is
not importable by name once several folders have one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "tests" / "data" / "tiny_config.yaml"
PYTHON = Path(sys.executable)
# Every snakemake run of these tests ends within this many seconds, or is killed.
SNAKEMAKE_TIMEOUT = int(os.environ.get("VIPREPRO_TEST_SNAKEMAKE_TIMEOUT", "600"))


@pytest.fixture(scope="session")
def helpers():
    """This module's helpers: Daemon, run_snakemake, result_digests, require_services, ..."""
    return types.SimpleNamespace(**{name: value for name, value in globals().items() if not name.startswith("_")})


def skip_loudly(reason: str) -> None:
    """Skip the test, and say why on the terminal as well as in pytest's summary (-ra)."""
    print(f"\nSKIPPED: {reason}", file=sys.stderr, flush=True)
    pytest.skip(reason)


def require_services(group: str) -> None:
    """Install the Debian packages of `group` (see scripts/ci_services.sh) or skip saying why."""
    done = subprocess.run(["bash", str(REPO / "scripts" / "ci_services.sh"), group], capture_output=True, text=True, timeout=900)
    if done.returncode == 2:
        skip_loudly(done.stderr.strip() or f"cannot install the {group} packages here")
    if done.returncode != 0:
        pytest.fail(f"installing the {group} packages failed:\n{done.stderr[-3000:]}")


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        skip_loudly(f"{what} needs root (this test runs as uid {os.geteuid()})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = f"\n--- {log} ---\n{log.read_text(errors='replace')[-3000:]}" if log and log.exists() else ""
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s{tail}")


class Daemon:
    """A service process in its own session, logged to a file and stopped by its PID."""

    def __init__(self, name: str, argv: list[str], log: Path, *, env: dict | None = None, cwd: Path | None = None, **popen):
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True, **popen
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the PID, SIGKILL after `grace` seconds; reaps the process."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def stop_all(daemons: list[Daemon]) -> None:
    """Stop in reverse start order; every daemon is attempted even if one fails."""
    errors = []
    for daemon in reversed(daemons):
        try:
            daemon.stop()
        except Exception as exc:  # keep stopping the others
            errors.append(f"{daemon.name} (pid {daemon.pid}): {exc}")
    if errors:
        raise RuntimeError("could not stop: " + "; ".join(errors))


def pipeline_env(**extra: str) -> dict:
    """The environment of a pipeline run: the venv's programs first on PATH (rules call `python`)."""
    env = dict(os.environ)
    env["PATH"] = f"{PYTHON.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MLFLOW_TRACKING_URI", None)  # the config decides, never the caller's shell
    env.update(extra)
    return env


def run_snakemake(
    workdir: Path, *args: str, configfiles: list[Path] = (), env: dict | None = None, timeout: int = SNAKEMAKE_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess:
    """The tiny pipeline (plus overlay config files) in `workdir`, killed after `timeout` seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "snakemake.out"
    argv = [
        str(PYTHON),
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(TINY_CONFIG),
        *map(str, configfiles),
        *args,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env or pipeline_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # snakemake's own session: it and the jobs it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            pytest.fail(f"snakemake did not finish within {timeout} s:\n{_tail(log)}")
    done = subprocess.CompletedProcess(argv, proc.returncode, log.read_text(errors="replace"), "")
    if check and done.returncode != 0:
        pytest.fail(f"snakemake exited {done.returncode}:\n{_tail(log)}")
    return done


def _tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


def result_digests(workdir: Path) -> dict[str, str]:
    """What a rerun must reproduce exactly: data, weights, submission files, scores, verdicts.

    A whitelist, so that records of wall-clock times, hosts and job ids (benchmarks, epoch
    timings, run records, MLflow) never enter the comparison: checkpoints count by the digest
    of their weights, histories without timings, verdicts by their decisions and numbers.
    """
    sys.path.insert(0, str(REPO / "src"))
    from viprepro.tasks import get_task, task_names
    from viprepro.training import checkpoint

    exact = {"subset_manifest.json", "test_gt.csv", "scores.json", "scores.txt", *(get_task(t).submission_filename for t in task_names())}
    digests = {}
    for path in sorted((workdir / "results").rglob("*")):
        rel = path.relative_to(workdir).as_posix()
        if not path.is_file() or "/synthetic/" in rel or "/mlflow/" in rel or "/benchmarks/" in rel:
            continue
        if path.name in exact:
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.name == "model.pt":
            digests[rel] = checkpoint.load(path)["final_weights_digest"]
        elif path.name == "history.json":
            epochs = json.loads(path.read_text())
            digests[rel] = _digest([{k: v for k, v in e.items() if "second" not in k and "per_s" not in k} for e in epochs])
        elif path.name == "verdict.json":
            verdict = json.loads(path.read_text())
            digests[rel] = _digest({"verdict": verdict["verdict"], "metrics": verdict["metrics"]})
    return digests


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
