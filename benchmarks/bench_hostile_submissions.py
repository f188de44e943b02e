"""Peak memory of reading hostile submission files against a valid file of the same size (issue 17).

    .venv/bin/python benchmarks/bench_hostile_submissions.py [--mb 20] [--bomb-mb 1200] [--cap-mb 4000]

Makes a tiny synthetic COCO and MiniCity, a valid detection file of about --mb MB and, of the
same size, hostile ones (ten million integers at 20 MB, empty objects, UTF-16, a stray Latin-1
byte; and 100,000 nested '['), a valid segmentation zip and one whose first member inflates to
--bomb-mb MB. Each `viprepro validate` / `score --mode strict|official` runs in a forked child
under an address-space cap (tests/hostile/peak_memory.py), all in this run, and the table
gives each one's exit, its resident peak above the start and its ratio to the valid file's.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "hostile")]

from hostile_helpers import TINY, valid_submission, zip_bomb  # noqa: E402
from testutils import tiny_dataset  # noqa: E402

from viprepro.files.schemas_io import validate as validate_schema  # noqa: E402
from viprepro.tasks import get_task  # noqa: E402


def detection_files(root: Path, gt: Path, mb: float) -> dict[str, Path]:
    doc = json.loads(gt.read_text())
    ids, cats = [i["id"] for i in doc["images"]], [c["id"] for c in doc["categories"]]
    rng = random.Random(0)
    n = int(mb * (1 << 20) / 100)
    valid = root / "valid.json"
    valid.write_text(
        "[\n"
        + ",\n".join(
            json.dumps(
                {
                    "image_id": rng.choice(ids),
                    "category_id": rng.choice(cats),
                    "bbox": [round(rng.uniform(0, 50), 2) for _ in range(4)],
                    "score": round(rng.random(), 4),
                }
            )
            for _ in range(n)
        )
        + "\n]\n"
    )
    size = valid.stat().st_size
    text = valid.read_text()
    files = {"valid": valid}
    for name, data in (
        ("integers", ("[" + ",".join(["1"] * (size // 2)) + "]").encode()),
        ("empty objects", ("[" + ",".join(["{}"] * (size // 3)) + "]").encode()),
        ("nested 100,000 deep", b"[" * 100_000),
        ("UTF-16", text.encode("utf-16")),
        ("Latin-1 byte", text.replace('"score": ', '"note": "caf\u00e9", "score": ', 1).encode("latin-1")),
    ):
        files[name] = root / f"{name.replace(' ', '_')}.json"
        files[name].write_bytes(data)
    return files


def segmentation_files(root: Path, valid: Path, bomb_mb: int) -> dict[str, Path]:
    with zipfile.ZipFile(valid) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    first = sorted(members)[0]
    bomb = zip_bomb(root / "bomb.zip", name=first, megabytes=bomb_mb)
    with zipfile.ZipFile(bomb, "a") as archive:
        for name, data in members.items():
            if name != first:
                archive.writestr(name, data)
    return {"valid": valid, f"zip bomb ({bomb_mb} MB member)": bomb}


def measure(task: str, gt: Path, files: dict[str, Path], out: Path, cap_mb: float) -> dict[str, list[dict]]:
    runs = []
    for n, path in enumerate(files.values()):
        common = ["--task", task, "--gt", str(gt), "--submission", str(path)]
        runs += [
            ["validate", *common],
            ["score", *common, "--mode", "strict", "--out", str(out / f"{n}s")],
            ["score", *common, "--mode", "official", "--out", str(out / f"{n}o")],
        ]
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "hostile" / "peak_memory.py"), "--cap-mb", str(cap_mb), json.dumps(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: report[3 * n : 3 * n + 3] for n, name in enumerate(files)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20)
    parser.add_argument("--bomb-mb", type=int, default=1200)
    parser.add_argument("--cap-mb", type=float, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        options = dict(TINY["detection"])
        validate_schema(options, "synthetic.detection.schema.yaml")
        coco = tiny_dataset(get_task("detection"), root / "coco", options)
        city = tiny_dataset(get_task("segmentation"), root / "city", dict(TINY["segmentation"]))
        tables = {
            "detection": measure("detection", coco["gt"], detection_files(root, coco["gt"], args.mb), root / "out", args.cap_mb),
            "segmentation": measure(
                "segmentation",
                city["gt"],
                segmentation_files(root, valid_submission("segmentation", city, root / "city"), args.bomb_mb),
                root / "out",
                args.cap_mb,
            ),
        }
    print(f"{'task':13} {'file':28} {'command':9} {'exit':>5} {'peak MB':>8} {'x valid':>8}")
    for task, table in tables.items():
        for name, runs in table.items():
            for command, run, base in zip(("validate", "strict", "official"), runs, table["valid"]):
                ratio = run["peak_mb"] / base["peak_mb"] if base["peak_mb"] else float("nan")
                print(f"{task:13} {name:28} {command:9} {str(run['exit'])[:5]:>5} {run['peak_mb']:8.1f} {ratio:8.2f}")
    from benchlog import record

    worst = max(
        (run["peak_mb"], f"{task} {name} {command}", base["peak_mb"])
        for task, table in tables.items()
        for name, runs in table.items()
        if name != "valid"
        for command, run, base in zip(("validate", "strict", "official"), runs, table["valid"])
    )
    record(
        "hostile submission files: worst peak memory (MB) vs the valid file's",
        ours=worst[0],
        baseline=worst[2],
        unit="MB",
        ratio=worst[2] / worst[0] if worst[0] else None,
        note=worst[1],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
