"""Reading a hostile submission needs no more memory than reading a valid one of its size.

Each reader runs in a subprocess under an address-space cap (RLIMIT_AS, set after the
imports by peak_memory.py): the valid file and each hostile one of about the same size. The
hostile runs must end in a clean refusal (exit 1, no MemoryError) within the cap, and peak no
higher than the valid run plus a small margin. The figures of issue 17 at full size (a 20 MB
file of ten million items, a 1.2 GB zip bomb) come from the same script; see the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_helpers import zip_bomb

SCRIPT = Path(__file__).with_name("peak_memory.py")
CAP_MB = 600  # what reading may add to the process; a valid 2 MB detection file needs about 40
MARGIN_MB = 30


def peaks(runs: list[list]) -> list[dict]:
    """Exit code and resident peak (MB above the start) of each command, in one capped process."""
    runs = [[str(arg) for arg in argv] for argv in runs]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cap-mb", str(CAP_MB), json.dumps(runs)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _commands(task: str, gt: Path, submission: Path, out: Path) -> list[list]:
    common = ["--task", task, "--gt", gt, "--submission", submission]
    return [
        ["validate", *common],
        ["score", *common, "--mode", "strict", "--out", out / "s"],
        ["score", *common, "--mode", "official", "--out", out / "o"],
    ]


def _runs(task: str, gt: Path, valid: Path, hostile: list[Path], out: Path) -> tuple[list[dict], dict[Path, list[dict]]]:
    """(the valid file's three runs, each hostile file's three runs), each in a fresh forked process."""
    paths = [valid, *hostile]
    report = peaks([argv for n, path in enumerate(paths) for argv in _commands(task, gt, path, out / str(n))])
    runs = [report[3 * n : 3 * n + 3] for n in range(len(paths))]
    return runs[0], dict(zip(hostile, runs[1:]))


def test_detection_readers_stay_within_a_valid_run(datasets, tmp_path):
    data = datasets["detection"]
    doc = json.loads(Path(data["gt"]).read_text())
    one = json.loads(data["valid"].read_text())
    valid = tmp_path / "valid.json"
    valid.write_text("[\n" + ",\n".join(json.dumps(one[i % len(one)]) for i in range(5_000)) + "\n]\n")
    size = valid.stat().st_size
    hostile = {
        "ints": "[" + ",".join(["1"] * (size // 2)) + "]",
        "empty objects": "[" + ",".join(["{}"] * (size // 3)) + "]",
        "deep": "[" * size,
        "latin-1": valid.read_text().replace('"score": 0.9}', '"score": 0.9, "x": "\u00e9"}', 1),
    }
    assert doc["images"]
    paths = []
    for name, text in hostile.items():
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_bytes(text.encode("latin-1" if name == "latin-1" else "utf-8"))
    normal, runs = _runs("detection", data["gt"], valid, paths, tmp_path)
    assert [run["exit"] for run in normal] == [0, 0, 0], normal
    for path in paths:
        for command, run, base in zip(("validate", "strict", "official"), runs[path], normal):
            assert run["exit"] == 1 and "Traceback" not in run["stderr"], (path.name, command, run)
            assert run["peak_mb"] <= base["peak_mb"] + MARGIN_MB, (path.name, command, run, base)


def test_zip_bomb_stays_within_a_valid_run(datasets, tmp_path):
    data = datasets["segmentation"]
    bomb = zip_bomb(tmp_path / "bomb.zip", megabytes=300)
    normal, runs = _runs("segmentation", data["gt"], data["valid"], [bomb], tmp_path)
    assert [run["exit"] for run in normal] == [0, 0, 0], normal
    for command, run, base in zip(("validate", "strict", "official"), runs[bomb], normal):
        assert run["exit"] == 1 and "above the 64 MB limit per member" in run["stderr"], (command, run)
        assert run["peak_mb"] <= base["peak_mb"] + MARGIN_MB, (command, run, base)


@pytest.mark.parametrize("task", ["classification", "action_recognition"])
def test_text_readers_stay_within_a_valid_run(datasets, tmp_path, task):
    data = datasets[task]
    valid_text = data["valid"].read_text()
    lines = valid_text.splitlines()
    valid = tmp_path / f"valid{data['valid'].suffix}"
    valid.write_text(valid_text)
    junk = tmp_path / f"junk{data['valid'].suffix}"
    junk.write_text(lines[0] + "\n" + "x,y\n" * 100_000)  # 0.4 MB of bad lines
    normal, runs = _runs(task, data["gt"], valid, [junk], tmp_path)
    for command, run, base in zip(("validate", "strict", "official"), runs[junk], normal):
        assert run["exit"] == 1 and "Traceback" not in run["stderr"], (command, run)
        # 100,000 problems: before issue 17 every message was kept
        assert run["peak_mb"] <= base["peak_mb"] + MARGIN_MB, (command, run, base)
