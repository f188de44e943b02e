"""Run one command of a participant in a bubblewrap sandbox.

Inside the sandbox the command sees only: the system's programs and libraries (/usr, read
only), the Python interpreter it runs on, the mounts it is given (read only unless marked
writable), a private /proc, /dev and /tmp. It has no network (a namespace with only an
unconnected loopback), no capabilities, a root file system that is read only, no other
process of the machine, and only the environment variables it is given. A time limit kills
the whole sandbox; memory, processes, CPU time and the output folder's size are limited for
the whole process tree (`limits.Enforcer`: a cgroup where the machine allows one), and a
limit hit kills the tree and is reported as `resource_limit`, not as a crash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from viprepro.errors import UserError
from viprepro.external.limits import Enforcer, TreeLimits

# Files of /etc programs commonly read (dynamic linker, user names, time zone), read only.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "passwd", "group", "nsswitch.conf", "localtime", "hosts", "alternatives")


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    writable: bool = False


@dataclass
class Limits:
    seconds: float
    memory_mb: int
    tmp_mb: int = 1024
    processes: int = 512
    cpu_seconds: float | None = None  # None: seconds x threads
    disk_mb: int = 10240
    threads: int = 1


@dataclass
class SandboxResult:
    command: str
    exit_code: int | None  # None when the time limit killed it
    seconds: float
    timed_out: bool
    log: str
    mounts: list[dict] = field(default_factory=list)
    limits: dict = field(default_factory=dict)
    resource_limit: dict | None = None  # {"limit": memory|processes|cpu_time|disk|wall_time, "detail": ...}
    enforcement: str = ""  # how the limits were enforced on this machine
    network: bool = False
    audits: dict = field(default_factory=dict)  # filled by the step: {name: {"passed", "detail", "problems"}}

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.resource_limit is None

    def as_record(self) -> dict:
        return asdict(self)


def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if not found:
        raise UserError(
            "bubblewrap (`bwrap`) is not installed; external submissions run only inside it (Debian: apt-get install bubblewrap)"
        )
    return found


def interpreter_mounts() -> list[Mount]:
    """The Python installation our interpreter comes from, when it lives outside /usr."""
    prefix = Path(sys.base_prefix).resolve()
    if prefix == Path("/usr") or Path("/usr") in prefix.parents:
        return []
    return [Mount(prefix, str(prefix))]


# With network (installing dependencies only): name resolution and certificate authorities.
NETWORK_ETC = ("resolv.conf", "ssl", "ca-certificates", "pki", "pip.conf")


def build_argv(command: str, mounts: list[Mount], *, cwd: str, env: dict[str, str], limits: Limits, network: bool = False) -> list[str]:
    """The bwrap command line that runs `command` with /bin/sh inside the sandbox."""
    argv = [
        bwrap_path(),
        "--unshare-all",
        *(["--share-net"] if network else []),
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), f"/{name}"]
    for name in ETC_FILES + (NETWORK_ETC if network else ()):
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    for mount in [*interpreter_mounts(), *mounts]:
        if not mount.source.exists():
            raise UserError("does not exist (needed inside the sandbox)", path=mount.source)
        argv += ["--bind" if mount.writable else "--ro-bind", str(mount.source.resolve()), mount.target]
    argv += ["--remount-ro", "/", "--chdir", cwd]
    for key, value in sorted(env.items()):
        argv += ["--setenv", key, value]
    return [*argv, "/bin/sh", "-c", command]


def run(
    command: str,
    mounts: list[Mount],
    *,
    cwd: str,
    env: dict[str, str],
    limits: Limits,
    log: Path,
    network: bool = False,
    backend: str | None = None,
) -> SandboxResult:
    """Run `command` in the sandbox, its stdout and stderr into `log`; never raises on its failure.

    The writable mount is the output folder whose size `limits.disk_mb` bounds; `backend`
    forces how the tree's limits are enforced (default: the strongest the machine allows).
    """
    argv = build_argv(command, mounts, cwd=cwd, env=env, limits=limits, network=network)
    output = next((m.source for m in mounts if m.writable), None)
    tree = TreeLimits(
        memory_mb=limits.memory_mb,
        processes=limits.processes,
        disk_mb=limits.disk_mb,
        cpu_seconds=limits.cpu_seconds or limits.seconds * limits.threads,
    )
    enforcer = Enforcer(tree, output if output is not None else Path("/nonexistent"), backend=backend)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=enforcer.child_setup,
                start_new_session=True,
            )
            exit_code, timed_out, hit = enforcer.watch(proc, limits.seconds)
    finally:
        enforcer.close()
    seconds = time.monotonic() - started
    if timed_out:
        hit = {"limit": "wall_time", "detail": f"still running after the time limit of {limits.seconds:.0f} s"}
    if timed_out or hit:
        why = f"the time limit of {limits.seconds:.0f} s was reached" if timed_out else f"{hit['limit']} limit: {hit['detail']}"
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"\n[viprepro] killed: {why}\n")
    return SandboxResult(
        command=command,
        exit_code=exit_code,
        seconds=round(seconds, 3),
        timed_out=timed_out,
        log=str(log),
        mounts=[{"source": str(m.source), "target": m.target, "writable": m.writable} for m in mounts],
        limits=asdict(limits),
        resource_limit=hit,
        enforcement=enforcer.description,
        network=network,
    )


def check_available() -> str | None:
    """None when sandboxes can start here, else why not (e.g. no user namespaces in a container)."""
    try:
        bwrap = bwrap_path()
    except UserError as exc:
        return exc.message
    probe = subprocess.run(
        [
            bwrap,
            "--unshare-all",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "/bin/true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {probe.stderr.strip() or f'exit {probe.returncode}'}"
    return None
