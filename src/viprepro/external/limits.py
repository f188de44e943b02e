"""Limits on a participant's whole process tree: memory, processes, CPU time, disk written.

RLIMIT_AS bounds one process, so a fork bomb, or many processes each under the limit, get
through it. Here the sandbox's tree is put into a control group of its own before bwrap
starts, whichever kind the machine lets this user create:

- `cgroup2`: a child of our own cgroup v2 group with the memory and pids controllers
  delegated (systemd's user delegation, or root): memory.max (swap 0), pids.max, CPU from
  cpu.stat, and cgroup.kill for the tree.
- `cgroup1`: children of our own groups in the v1 memory, pids and cpuacct hierarchies
  (root on a v1 or hybrid machine): memory.limit_in_bytes (and memsw), pids.max, CPU from
  cpuacct.usage.
- `rlimit` (nothing else available): per-process limits (RLIMIT_AS, RLIMIT_CPU,
  RLIMIT_NPROC, which root ignores) plus polling the tree's size, process count and CPU time
  with psutil; a fork can outrun a poll, so this is the weakest and the record says so.

In every backend each process also keeps RLIMIT_AS (an allocation beyond the memory limit
fails cleanly in the process that makes it), RLIMIT_FSIZE (no file larger than the disk
limit) and no core dumps, and the output folder is measured every `POLL_SECONDS`: past
`disk_mb` the tree is killed, so it holds at most what it could write in one poll beyond
the limit. The sandbox's /tmp is a tmpfs of `tmp_mb` (in memory, counted in the memory
limit). A limit hit kills the whole tree (bwrap's PID namespace dies with it) and is
reported as `{"limit": ..., "detail": ...}`; the step's record carries it as `resource_limit`.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.2
MB = 1 << 20


@dataclass(frozen=True)
class TreeLimits:
    memory_mb: int
    processes: int
    cpu_seconds: float
    disk_mb: int


def _own_cgroups() -> dict[str, str]:
    """Controller (or '' for v2) -> our group's path, from /proc/self/cgroup."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            groups[name] = path
    return groups


def _mounts() -> dict[str, str]:
    """Controller (or '' for v2) -> mount point, from /proc/self/mountinfo."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        dash = fields.index("-")
        fstype, options, point = fields[dash + 1], fields[dash + 3].split(","), fields[4]
        if fstype == "cgroup2":
            mounts.setdefault("", point)
        elif fstype == "cgroup":
            for name in options:
                mounts.setdefault(name, point)
    return mounts


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


def _read_int(path: Path, key: str | None = None) -> int:
    with contextlib.suppress(OSError, ValueError):
        text = path.read_text()
        if key is None:
            return int(text.split()[0])
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


def folder_bytes(folder: Path) -> int:
    """Bytes allocated on disk under `folder` (what `du` counts)."""
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


class Enforcer:
    """Puts a sandbox's process tree under `TreeLimits`, watches it and says which limit it hit."""

    def __init__(self, limits: TreeLimits, output: Path, *, backend: str | None = None):
        self.limits = limits
        self.output = Path(output)
        self.groups: dict[str, Path] = {}
        self.backend = backend or self._choose()
        if self.backend in ("cgroup2", "cgroup1"):
            self._create()

    # --- which backend -----------------------------------------------------------------------
    def _choose(self) -> str:
        for backend in ("cgroup2", "cgroup1"):
            if self._parents(backend):
                return backend
        return "rlimit"

    def _parents(self, backend: str) -> dict[str, Path] | None:
        """Writable parent groups of each controller the backend needs, or None."""
        with contextlib.suppress(OSError, ValueError):
            own, mounts = _own_cgroups(), _mounts()
            if backend == "cgroup2" and "" in own and "" in mounts:
                parent = Path(mounts[""]) / own[""].lstrip("/")
                controllers = (parent / "cgroup.subtree_control").read_text().split()
                if {"memory", "pids"} <= set(controllers) and os.access(parent, os.W_OK):
                    return {"": parent}
            if backend == "cgroup1":
                parents = {
                    name: Path(mounts[name]) / own[name].lstrip("/")
                    for name in ("memory", "pids", "cpuacct")
                    if name in mounts and name in own
                }
                if len(parents) == 3 and all(os.access(p, os.W_OK) for p in parents.values()):
                    return parents
        return None

    def _create(self) -> None:
        name = f"viprepro-sandbox-{os.getpid()}-{time.monotonic_ns()}"
        memory = self.limits.memory_mb * MB
        try:
            for controller, parent in self._parents(self.backend).items():
                group = parent / name
                group.mkdir()
                self.groups[controller] = group
            if self.backend == "cgroup2":
                group = self.groups[""]
                _write(group / "memory.max", memory)
                with contextlib.suppress(OSError):
                    _write(group / "memory.swap.max", 0)
                _write(group / "pids.max", self.limits.processes)
            else:
                _write(self.groups["memory"] / "memory.limit_in_bytes", memory)
                with contextlib.suppress(OSError):  # absent without swap accounting
                    _write(self.groups["memory"] / "memory.memsw.limit_in_bytes", memory)
                _write(self.groups["pids"] / "pids.max", self.limits.processes)
        except OSError:
            self.close()
            self.backend = "rlimit"

    @property
    def description(self) -> str:
        how = {
            "cgroup2": "a cgroup v2 group (memory.max, pids.max, cpu.stat)",
            "cgroup1": "cgroup v1 groups (memory.limit_in_bytes, pids.max, cpuacct.usage)",
            "rlimit": "per-process rlimits and polling of the tree with psutil (no cgroup available here)",
        }[self.backend]
        return f"process tree limited by {how}; each process also RLIMIT_AS and RLIMIT_FSIZE; output folder measured every {POLL_SECONDS} s"

    # --- in the child, before bwrap starts ---------------------------------------------------
    def child_setup(self) -> None:
        """preexec_fn: join the groups and set the per-process limits (inherited by the tree)."""
        for controller, group in self.groups.items():
            _write(group / ("cgroup.procs" if controller == "" else "tasks"), os.getpid())
        memory, disk = self.limits.memory_mb * MB, self.limits.disk_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
        if self.backend == "rlimit":
            cpu = int(self.limits.cpu_seconds) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
            resource.setrlimit(resource.RLIMIT_NPROC, (self.limits.processes, self.limits.processes))

    # --- watching -----------------------------------------------------------------------------
    def _cpu_seconds(self, proc: subprocess.Popen) -> float:
        if self.backend == "cgroup2":
            return _read_int(self.groups[""] / "cpu.stat", "usage_usec") / 1e6
        if self.backend == "cgroup1":
            return _read_int(self.groups["cpuacct"] / "cpuacct.usage") / 1e9
        return sum(t.user + t.system for t in self._tree_times(proc))

    def _tree(self, proc: subprocess.Popen):
        import psutil

        with contextlib.suppress(psutil.Error):
            root = psutil.Process(proc.pid)
            return [root, *root.children(recursive=True)]
        return []

    def _tree_times(self, proc):
        import psutil

        for p in self._tree(proc):
            with contextlib.suppress(psutil.Error):
                yield p.cpu_times()

    def _hit_now(self, proc: subprocess.Popen) -> dict | None:
        """The limit the running tree is past, if any."""
        cpu = self._cpu_seconds(proc)
        if cpu > self.limits.cpu_seconds:
            return {"limit": "cpu_time", "detail": f"{cpu:.1f} s of CPU time, above the limit of {self.limits.cpu_seconds:g} s"}
        hit = self._counted_hit()
        if hit or self.backend != "rlimit":
            return hit
        tree = self._tree(proc)
        if len(tree) > self.limits.processes:
            return {"limit": "processes", "detail": f"{len(tree)} processes, above the limit of {self.limits.processes}"}
        rss = sum(p.memory_info().rss for p in tree if p.is_running())
        if rss > self.limits.memory_mb * MB:
            return {
                "limit": "memory",
                "detail": f"the tree's resident memory reached {rss / MB:.0f} MB, the limit is {self.limits.memory_mb} MB",
            }
        return None

    def _counted_hit(self) -> dict | None:
        """A limit the groups' counters (OOM kills, refused forks) or the output folder's size show."""
        kills = self._oom_kills()
        if kills:
            return {
                "limit": "memory",
                "detail": f"{kills} process(es) killed by the kernel at the tree's memory limit of {self.limits.memory_mb} MB",
            }
        refused = self._pids_events()
        if refused:
            return {"limit": "processes", "detail": f"{refused} fork(s) refused at the limit of {self.limits.processes} processes"}
        written = folder_bytes(self.output)
        if written >= self.limits.disk_mb * MB:
            return {"limit": "disk", "detail": f"the output folder grew to {written / MB:.0f} MB, the limit is {self.limits.disk_mb} MB"}
        return None

    def _pids_events(self) -> int:
        if self.backend == "cgroup2":
            return _read_int(self.groups[""] / "pids.events", "max")
        if self.backend == "cgroup1":
            return _read_int(self.groups["pids"] / "pids.events", "max")
        return 0

    def _oom_kills(self) -> int:
        if self.backend == "cgroup2":
            return _read_int(self.groups[""] / "memory.events", "oom_kill")
        if self.backend == "cgroup1":
            return _read_int(self.groups["memory"] / "memory.oom_control", "oom_kill")
        return 0

    def watch(self, proc: subprocess.Popen, seconds: float) -> tuple[int | None, bool, dict | None]:
        """Wait for `proc` (bwrap) polling the limits: (exit code, timed out, limit hit or None)."""
        deadline = time.monotonic() + seconds
        hit = None
        while True:
            try:
                code = proc.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                self.kill(proc)
                return None, True, None
            hit = self._hit_now(proc)
            if hit:
                self.kill(proc)
                code = proc.wait()
                break
        if hit is None:
            hit = self._hit_after(code)
        return code, False, hit

    def _hit_after(self, code: int) -> dict | None:
        """A limit the finished tree ran into (an OOM kill, a refused fork, a full disk, SIGXCPU)."""
        hit = self._counted_hit()
        if hit is None and self.backend == "rlimit" and code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
            hit = {"limit": "cpu_time", "detail": f"a process used its CPU time limit of {self.limits.cpu_seconds:g} s"}
        return hit

    def kill(self, proc: subprocess.Popen) -> None:
        """Kill bwrap's session (its PID namespace dies with it) and whatever is left in the groups."""
        tree = self._tree(proc)[1:] if self.backend == "rlimit" else []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if tree:  # no group to empty: kill the processes seen, and wait until they are gone
            import psutil

            for child in tree:
                with contextlib.suppress(psutil.Error):
                    child.kill()
            psutil.wait_procs(tree, timeout=5)
        if self.backend == "cgroup2":
            with contextlib.suppress(OSError):
                _write(self.groups[""] / "cgroup.kill", 1)
        elif self.backend == "cgroup1":
            for _ in range(50):
                pids = [int(p) for p in (self.groups["pids"] / "cgroup.procs").read_text().split()]
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.02)
        proc.wait()

    def close(self) -> None:
        """Remove the groups (once empty)."""
        for group in self.groups.values():
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        self.groups = {}
