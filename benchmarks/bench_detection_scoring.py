"""Scoring at the challenge's scale: faster-coco-eval against plain pycocotools.

Generates a COCO-like test ground truth (4,952 images, about 7.3 boxes each over the 80
categories, COCO's mix of small/medium/large, a few crowds) and a submission of 100
detections per image, then scores the same files in fresh processes:

- `pycocotools`: the official scorer's engine, as it ran (load, COCOeval, summarize);
- `faster-coco-eval`: the same evaluation through viprepro's engine;
- `viprepro score --mode strict`: the whole command (size check, validation, scoring, files).

Each prints wall time and peak resident memory, also net of what importing viprepro costs
(torch: `viprepro.tasks.base` imports it); the ratios are against pycocotools in the same
run. Targets (issue 4): at least 4x faster than pycocotools, at most 1.5 GB peak.

    .venv/bin/python benchmarks/bench_detection_scoring.py            # full scale, a few minutes
    .venv/bin/python benchmarks/bench_detection_scoring.py --images 500
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from viprepro.tasks.detection.categories import COCO_CATEGORIES

AREA_SIDES = ((4, 32), (32, 96), (96, 400))  # COCO val2017: about 41 % small, 34 % medium, 25 % large
AREA_ODDS = (0.41, 0.34, 0.25)


def make_files(folder: Path, images: int, per_image: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    category_ids = [c["id"] for c in COCO_CATEGORIES]
    gt_images, annotations, detections = [], [], []
    for image_id in range(1, images + 1):
        width, height = 640, int(rng.choice([427, 480, 512]))
        gt_images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": width, "height": height})
        boxes = []
        for _ in range(rng.poisson(7.3)):
            low, high = AREA_SIDES[rng.choice(3, p=AREA_ODDS)]
            w, h = (min(v, limit - 1) for v, limit in zip(rng.uniform(low, high, 2), (width, height)))
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            crowd = int(rng.uniform() < 0.01)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(rng.choice(category_ids)),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": crowd,
                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                }
            )
            boxes.append(annotations[-1])
        for index in range(per_image):
            if index < len(boxes):
                x, y, w, h = boxes[index]["bbox"]
                box = [x + rng.normal(0, 0.1 * w), y + rng.normal(0, 0.1 * h), w * rng.uniform(0.8, 1.2), h * rng.uniform(0.8, 1.2)]
                category = boxes[index]["category_id"]
            else:
                w, h = rng.uniform(8, 200, 2)
                box, category = [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h], int(rng.choice(category_ids))
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [round(float(v), 2) for v in box],
                    "score": round(float(rng.uniform()), 5),
                }
            )
    gt_path, results_path = folder / "instances_test.json", folder / "submission.json"
    gt_path.write_text(json.dumps({"images": gt_images, "annotations": annotations, "categories": COCO_CATEGORIES}))
    results_path.write_text(json.dumps(detections))
    return gt_path, results_path


def resident_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def child(engine: str, gt_path: Path, results_path: Path, out: Path) -> None:
    from viprepro.cli import main
    from viprepro.tasks.detection.scoring import evaluate_boxes

    imports_mb = resident_mb()  # torch, which viprepro.tasks.base imports, is most of it
    started = time.perf_counter()
    if engine == "viprepro-score":
        argv = ["--task", "detection", "--gt", str(gt_path), "--submission", str(results_path), "--out", str(out), "--mode", "strict"]
        assert main(["score", *argv]) == 0
        stats = [json.loads((out / "scores.json").read_text())[k] for k in ("ap", "ap50", "ap75")]
    else:
        gt = json.loads(gt_path.read_text())
        detections = json.loads(results_path.read_text())
        stats = evaluate_boxes(gt, detections, img_ids={d["image_id"] for d in detections}, engine=engine)[0].tolist()
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_mb": peak_mb, "imports_mb": imports_mb, "stats": stats}))


def run(engine: str, gt_path: Path, results_path: Path, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", engine, "--gt", str(gt_path), "--results", str(results_path), "--out", str(out)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4952)
    parser.add_argument("--per-image", type=int, default=100)
    parser.add_argument("--child", choices=("pycocotools", "faster-coco-eval", "viprepro-score"), help=argparse.SUPPRESS)
    parser.add_argument("--gt", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.gt, args.results, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gt_path, results_path = make_files(folder, args.images, args.per_image)
        print(
            f"{args.images} images, {args.per_image} detections each; submission {results_path.stat().st_size / 2**20:.0f} MB, "
            f"ground truth {gt_path.stat().st_size / 2**20:.0f} MB"
        )
        rows = [run(engine, gt_path, results_path, folder / "scores") for engine in ("pycocotools", "faster-coco-eval", "viprepro-score")]
    baseline = rows[0]
    print(f"{'engine':<20}{'seconds':>9}{'speed-up':>10}{'peak MB':>9}{'imports':>9}{'scoring':>9}{'memory':>8}   AP")
    for row in rows:
        scoring_mb = row["peak_mb"] - row["imports_mb"]
        print(
            f"{row['engine']:<20}{row['seconds']:>9.1f}{baseline['seconds'] / row['seconds']:>9.1f}x{row['peak_mb']:>9.0f}"
            f"{row['imports_mb']:>9.0f}{scoring_mb:>9.0f}{scoring_mb / (baseline['peak_mb'] - baseline['imports_mb']):>7.2f}x"
            f"   {row['stats'][0]:.6f}"
        )
    print("peak MB: the process's peak resident memory; imports: resident after importing viprepro (torch); scoring: peak minus imports")
    difference = max(abs(a - b) for a, b in zip(rows[0]["stats"], rows[1]["stats"]))
    print(f"largest difference over the 12 statistics, faster-coco-eval vs pycocotools: {difference:.2e}")
    from benchlog import record

    ours = rows[2]
    record(
        f"detection scoring ({args.images:,} images x {args.per_image}) vs pycocotools",
        ours=ours["seconds"],
        baseline=baseline["seconds"],
        unit="s",
        ratio=baseline["seconds"] / ours["seconds"],
        target=">= 4x",
        met=baseline["seconds"] / ours["seconds"] >= 4,
        note=f"peak {ours['peak_mb']:.0f} MB (target <= 1,500); largest difference of the 12 stats {difference:.1e}",
    )


if __name__ == "__main__":
    main()
