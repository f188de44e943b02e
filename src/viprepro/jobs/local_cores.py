"""How many CPUs a local run may really use, and keeping Snakemake within them.

`snakemake --cores 8` on a 2-core machine starts eight one-thread jobs on two cores: each
runs at a quarter of its speed, eight torch processes fight for the caches and the memory,
and the run ends later than with two jobs at a time (README, "Measured"). Snakemake takes
`--cores` at its word, so the workflow lowers it to the CPUs this process may run on: the
smallest of the CPU count, the affinity mask (`taskset`, a container's cpuset) and the
cgroup CPU quota (Docker's `--cpus`, a SLURM allocation). Rule threads are capped by the
same figure, so the threads of the jobs running at once never exceed the CPUs.

Only local execution is bound: on a cluster (`--jobs`, an executor plugin) each job gets
its own CPUs from the scheduler and `--cores` only bounds the jobs run on the submit host.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process can keep busy at once (at least 1)."""
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        counts.append(len(os.sched_getaffinity(0)))
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        counts.append(max(1, math.ceil(quota)))
    return max(1, min(counts))


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (quota / period), None when unlimited.

    cgroup v2 keeps it in `cpu.max` ("max 100000" or "200000 100000") of the process's own
    group (its path is the `0::` line of /proc/self/cgroup); cgroup v1 in
    `cpu.cfs_quota_us` / `cpu.cfs_period_us` of the `cpu` hierarchy (-1 when unlimited).
    Unreadable files mean no quota is known, as on a machine without cgroups.
    """
    v2, v1 = _own_groups()
    candidates = []
    if v2 is not None:
        candidates.append(_read_v2(cgroup_root / v2.lstrip("/") / "cpu.max"))
        candidates.append(_read_v2(cgroup_root / "cpu.max"))
    for hierarchy in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        folder = cgroup_root / hierarchy
        if v1 is not None:
            candidates.append(_read_v1(folder / v1.lstrip("/")))
        candidates.append(_read_v1(folder))
    quotas = [q for q in candidates if q is not None]
    return min(quotas) if quotas else None


def _own_groups() -> tuple[str | None, str | None]:
    """(cgroup v2 path, cgroup v1 `cpu` path) of this process, from /proc/self/cgroup."""
    v2 = v1 = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _read_v2(path: Path) -> float | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max" or float(period) <= 0:
        return None
    return float(quota) / float(period)


def _read_v1(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def cap_local_cores(workflow) -> tuple[int, int] | None:
    """Lower a local run's `--cores` to `usable_cpus()`; returns (asked, granted) when lowered.

    Uses Snakemake's global resource `_cores` (what `--cores` sets): the scheduler never runs
    jobs whose threads add up to more, and no rule gets more threads than it. Cluster runs
    (`--jobs`/`nodes` set, or a non-local executor) are left alone.
    """
    if workflow.global_resources["_nodes"].value is not None or not workflow.local_exec:
        return None
    asked = workflow.global_resources["_cores"].value
    granted = usable_cpus()
    if not isinstance(asked, int) or asked <= granted:
        return None
    workflow.register_resource("_cores", granted)
    return asked, granted
