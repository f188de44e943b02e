"""A local run keeps the threads of its running jobs within the CPUs, whatever --cores says."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from viprepro.jobs import local_cores

SNAKEFILE = """
from viprepro.jobs.local_cores import cap_local_cores
{cap}

rule all:
    input: expand("done_{{i}}.txt", i=range(3)), "threads.txt"

rule busy:
    output: "done_{{i}}.txt"
    threads: 1
    shell: "python -c 'import time; s = time.time(); time.sleep(1.0); print(s, time.time())' > {{output}}"

rule wide:
    output: "threads.txt"
    threads: 4
    shell: "echo {{threads}} > {{output}}"
"""


def _run_workflow(tmp_path: Path, *, cap: bool) -> tuple[list[tuple[float, float]], int]:
    """Run a three-job workflow with --cores 8 on one CPU; returns the jobs' intervals and the wide rule's threads."""
    folder = tmp_path / ("capped" if cap else "uncapped")
    folder.mkdir()
    (folder / "Snakefile").write_text(SNAKEFILE.format(cap="cap_local_cores(workflow)" if cap else ""))
    cpu = min(os.sched_getaffinity(0))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(Path(local_cores.__file__).parents[1]), os.environ.get("PYTHONPATH")) if p),
    }
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "8", "--quiet", "all"],
        cwd=folder,
        env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    intervals = [tuple(map(float, (folder / f"done_{i}.txt").read_text().split())) for i in range(3)]
    return sorted(intervals), int((folder / "threads.txt").read_text())


def _overlaps(intervals: list[tuple[float, float]]) -> bool:
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(intervals))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_cores_above_the_cpus_run_one_thread_per_cpu(tmp_path):
    intervals, threads = _run_workflow(tmp_path, cap=True)
    assert not _overlaps(intervals), intervals
    assert threads == 1  # a rule's threads are capped by the same figure
    # Without the cap Snakemake believes --cores 8 and runs the three jobs at once on one CPU.
    intervals, threads = _run_workflow(tmp_path, cap=False)
    assert _overlaps(intervals) and threads == 4


def test_usable_cpus_reads_the_affinity_mask(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert local_cores.usable_cpus(cgroup_root=tmp_path) == 3


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, 1.5 CPUs (docker --cpus 1.5)
        ({"cpu.max": "max 100000\n"}, None),  # cgroup v2, unlimited
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # cgroup v1, unlimited
        ({"cpu.max": "garbage\n"}, None),
    ],
)
def test_cgroup_quota(monkeypatch, tmp_path, files, expected):
    monkeypatch.setattr(local_cores, "_own_groups", lambda: ("/", "/"))
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert local_cores.cgroup_cpu_quota(tmp_path) == expected


def test_a_quota_lowers_the_cpus_rounding_up(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(local_cores, "_own_groups", lambda: ("/", None))
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert local_cores.usable_cpus(cgroup_root=tmp_path) == 2


class _Resources(dict):
    def __getitem__(self, key):
        return SimpleNamespace(value=dict.__getitem__(self, key))


def _workflow(cores, nodes=None, local=True):
    registered = {}
    return SimpleNamespace(
        global_resources=_Resources(_cores=cores, _nodes=nodes),
        local_exec=local,
        register_resource=registered.__setitem__,
        registered=registered,
    )


def test_cluster_runs_are_not_capped(monkeypatch):
    monkeypatch.setattr(local_cores, "usable_cpus", lambda: 2)
    for workflow in (_workflow(8, nodes=100), _workflow(8, local=False)):
        assert local_cores.cap_local_cores(workflow) is None and not workflow.registered
    workflow = _workflow(8)
    assert local_cores.cap_local_cores(workflow) == (8, 2) and workflow.registered == {"_cores": 2}
    workflow = _workflow(2)
    assert local_cores.cap_local_cores(workflow) is None and not workflow.registered
