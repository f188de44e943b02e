"""Run `viprepro` commands under an address-space cap and report the peak memory of each.

    python tests/hostile/peak_memory.py --cap-mb 600 '[["validate", "--task", "detection", "--gt", GT, "--submission", FILE]]'

The cap (RLIMIT_AS) is set after the imports, at the process's address space plus --cap-mb,
so it bounds what reading a submission may add. Each command runs in a child forked after
the imports, whose resident high-water mark is reset first (/proc/self/clear_refs); the
report (one JSON line on stdout) gives, per command, its exit code and its resident peak
above the resident size it started with. Used
by test_memory_bounds.py and as the benchmark of issue 17 (normal vs hostile files).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import sys


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _measure(argv: list[str], cap_mb: float) -> dict:
    from viprepro import cli

    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current resident size
    base_rss = _status("VmRSS")
    cap = _status("VmSize") + int(cap_mb * (1 << 20))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = cli.main(argv)
    except MemoryError:
        code = "MemoryError"
    except BaseException as exc:  # noqa: BLE001 - reported, not raised: the caller judges it
        code = f"{type(exc).__name__}: {exc}"
    return {"exit": code, "peak_mb": round((_status("VmHWM") - base_rss) / (1 << 20), 1), "stderr": err.getvalue().strip()[:1000]}


def _forked(argv: list[str], cap_mb: float) -> dict:
    """`_measure` in a forked child: each command starts from the same imported, unused process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            data = json.dumps(_measure(argv, cap_mb)).encode()
        except BaseException as exc:  # noqa: BLE001
            data = json.dumps({"exit": f"{type(exc).__name__}: {exc}", "peak_mb": None, "stderr": ""}).encode()
        os.write(write, data)
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cap-mb", type=float, required=True)
    parser.add_argument("runs", type=json.loads, help="a JSON list of argument lists of `viprepro`")
    args = parser.parse_args()
    import logging

    from viprepro.tasks import get_task

    for argv in args.runs:  # the tasks' modules, and what scoring imports lazily, count in the baseline
        get_task(argv[argv.index("--task") + 1])
    import faster_coco_eval  # noqa: F401
    import PIL.PngImagePlugin  # noqa: F401

    logging.disable(logging.WARNING)
    report = [_forked(argv, args.cap_mb) for argv in args.runs]
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
