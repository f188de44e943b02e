"""Run every benchmark and write one table of what they measured: benchmarks/report.md and .json.

    python benchmarks/run_all.py            # full sizes (the issues' figures; an hour or more on 2 cores)
    python benchmarks/run_all.py --quick    # small sizes, a few minutes: checks that every benchmark runs
    python benchmarks/run_all.py --only subset segmentation_scoring
    python benchmarks/run_all.py --quick --full subset segmentation_scoring   # the data-step targets at full size
    python benchmarks/run_all.py --update --only embedded_default   # rerun one benchmark, keep the report's other rows

Each benchmark runs in its own process, prints what it prints by hand, and appends its figures
(`benchlog.record`) to a file this command reads back: the table holds what the runs measured,
ratios against baselines measured in the same runs, the issues' targets and whether each was
met, with the machine (CPU, cores, load average) and the commit. A benchmark that fails is a
row saying so, and the command exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: name -> (script and arguments at full size, arguments for --quick or None to skip it there)
BENCHMARKS = {
    "subset": (["bench_classification.py", "subset"], ["--classes", "100", "--no-copy"]),
    "segmentation_scoring": (
        ["bench_segmentation_scoring.py"],
        [
            "--images",
            "20",
            "--width",
            "1024",
            "--height",
            "512",
            "--work",
            str(Path(tempfile.gettempdir()) / "viprepro_bench_segmentation_quick"),
        ],
    ),
    "classification_scoring": (["bench_classification.py", "score"], ["--rows", "5000"]),
    "training_engine": (["bench_classification.py", "train"], ["--epochs", "1"]),
    "detection_scoring": (["bench_detection_scoring.py"], ["--images", "300", "--per-image", "20"]),
    "detection_step": (["bench_detection_step.py"], ["--steps", "1"]),
    "action_recognition_data": (["bench_action_recognition_data.py"], ["--clips", "4", "--repeat", "1", "--frames", "48"]),
    "action_recognition_scoring": (["bench_action_recognition_scoring.py"], ["--clips", "500", "--repeat", "1"]),
    "hostile_submissions": (["bench_hostile_submissions.py"], ["--mb", "4", "--bomb-mb", "200"]),
    "pipeline": (["bench_classification.py", "pipeline"], None),
    "embedded_default": (["bench_embedded_default.py"], None),
}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(), "system": platform.platform()}


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def run_one(name: str, argv: list[str], log_dir: Path) -> tuple[list[dict], dict]:
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as sink:
        records = Path(sink.name)
    env = {
        **os.environ,
        "VIPREPRO_BENCH_RECORD": str(records),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    started, load = time.perf_counter(), os.getloadavg()[0]
    result = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (log_dir / f"{name}.log").write_text(f"$ {' '.join(['python', 'benchmarks/' + argv[0], *argv[1:]])}\n{result.stdout}{result.stderr}")
    rows = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    records.unlink()
    run = {
        "benchmark": name,
        "command": " ".join(["python", "benchmarks/" + argv[0], *argv[1:]]),
        "exit": result.returncode,
        "seconds": round(seconds, 1),
        "load_average_at_start": round(load, 1),
    }
    if result.returncode:
        run["error"] = (result.stderr or result.stdout).strip().splitlines()[-1:]
    return [{**row, "benchmark": name} for row in rows], run


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def updated(report: dict, previous_json: Path) -> dict:
    """`report` (the benchmarks run now) with the previous report's rows and runs of every other
    benchmark, in the order of BENCHMARKS; the header says both commands."""
    previous = json.loads(previous_json.read_text(encoding="utf-8"))
    fresh = {run["benchmark"] for run in report["runs"]}
    order = list(BENCHMARKS)

    def keep(items: list[dict]) -> list[dict]:
        return [item for item in items if item["benchmark"] not in fresh]

    rows = sorted(keep(previous["rows"]) + report["rows"], key=lambda row: order.index(row["benchmark"]))
    runs = sorted(keep(previous["runs"]) + report["runs"], key=lambda run: order.index(run["benchmark"]))
    for run in runs:
        run.setdefault("commit", previous["commit"])
        run.setdefault("date", previous["date"])
    return report | {
        "mode": f"{previous['mode']}; {', '.join(sorted(fresh))} rerun later",
        "command": f"{previous['command']}, then {report['command']}",
        "rows": rows,
        "runs": runs,
    }


def number(value, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"# Benchmark report ({report['mode']})",
        "",
        f"Written by `{report['command']}` on {report['date']}, commit {report['commit']}.",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average {report['load_average']} at the start "
        "(other work on the machine slows the runs: every ratio is against a baseline measured in the same run).",
        "",
        "| figure | ours | baseline | ratio | target | met? | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        met = {True: "yes", False: "**no**", None: "-"}[row.get("met")]
        ratio = f"{row['ratio']:.2f}x" if row.get("ratio") is not None else "-"
        lines.append(
            f"| {row['figure']} | {number(row['ours'], row['unit'])} | {number(row['baseline'], row['unit'])} | {ratio} "
            f"| {row.get('target') or '-'} | {met} | {row.get('note', '')} |"
        )
    lines += [
        "",
        "| benchmark | command | exit | seconds | load average at start | commit | date |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        lines.append(
            f"| {run['benchmark']} | `{run['command']}` | {run['exit']}{' (' + run['error'][0][:80] + ')' if run.get('error') else ''} "
            f"| {run['seconds']} | {run['load_average_at_start']} | {run.get('commit', report['commit'])} | {run.get('date', report['date'])} |"
        )
    lines += ["", "Each benchmark's full output is in `benchmarks/logs/<benchmark>.log`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: minutes instead of an hour")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--full", nargs="+", default=[], choices=sorted(BENCHMARKS), help="with --quick: these at full size all the same")
    parser.add_argument("--out", type=Path, default=HERE / "report.md", help="the Markdown report (the JSON goes beside it)")
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the existing report's rows of the benchmarks not run now (each run keeps its own command, commit and date)",
    )
    args = parser.parse_args(argv)
    log_dir = args.out.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows, runs = [], []
    for name, (full, quick) in BENCHMARKS.items():
        small = args.quick and name not in args.full
        if (args.only and name not in args.only) or (small and quick is None):
            continue
        argv_ = full + (quick if small else [])
        print(f"run_all: {name}: {' '.join(argv_)}", flush=True)
        found, run = run_one(name, argv_, log_dir)
        run |= {"commit": commit(), "date": now()}
        rows += found
        runs.append(run)
        print(f"run_all: {name}: exit {run['exit']}, {run['seconds']} s, {len(found)} figure(s)", flush=True)
    command = (
        "python benchmarks/run_all.py"
        + (" --quick" if args.quick else "")
        + (f" --only {' '.join(args.only)}" if args.only else "")
        + (f" --full {' '.join(args.full)}" if args.full else "")
        + (" --update" if args.update else "")
    )
    mode = "full sizes" if not args.quick else f"quick sizes, full for {', '.join(args.full)}" if args.full else "quick sizes"
    report = {
        "mode": mode,
        "command": command,
        "commit": commit(),
        "machine": machine(),
        "date": now(),
        "load_average": round(os.getloadavg()[0], 1),
        "rows": rows,
        "runs": runs,
    }
    if args.update:
        report = updated(report, args.out.with_suffix(".json"))
    args.out.write_text(markdown(report), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    return 1 if any(run["exit"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
