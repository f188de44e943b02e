"""Benchmark the segmentation scorer against cityscapesscripts on the same files.

    .venv/bin/python benchmarks/bench_segmentation_scoring.py [--images 200] [--width 2048 --height 1024]

Makes (once, cached in --work) synthetic ground truth at the official scale and plausible
predictions (the ground truth shifted, with wrong-class blocks), then times, each in its own
process so that peak memory is its own: cityscapesscripts' `evaluateImgLists` on the PNGs
(its pure-Python path: the Cython extension is not shipped in the wheel), viprepro's scorer
(official mode, a zip of `<int>.png` mapped through test.p, all cores) twice: cold (no
prepared ground truth: it decodes the ground truth and writes `--prepared-gt`) and warm (the
prepared ground truth checked against the files' SHA-256 and reused, as every later seed and
submission scores), and plain PNG decoding of every file (the floor of a scorer that decodes
the three PNGs of each frame). Prints seconds (wall and CPU), peak RSS, the speed-ups and the
largest difference between the scorers' five numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

KEYS = ("iou_class", "iiou_class", "iou_category", "iiou_category", "accuracy")
CITIES = ("frankfurt", "lindau", "munster")


def _make_one(args) -> tuple[str, str, int]:
    work, index, width, height = args
    from viprepro.tasks.segmentation.synth import draw_scene

    rng = np.random.default_rng([42, index])
    labels, instances = draw_scene(rng, width, height, max_objects=16)  # ~17 instances a frame, as Cityscapes
    prediction = np.roll(labels, int(rng.integers(-8, 9)), axis=1)
    for _ in range(12):  # wrong-class blocks, as a weak model's errors
        h, w = int(rng.integers(8, height // 6)), int(rng.integers(8, width // 6))
        y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        prediction[y : y + h, x : x + w] = rng.choice([7, 8, 11, 17, 21, 23, 24, 26, 0])
    city = CITIES[index % len(CITIES)]
    base = f"{city}_{index:06d}_000019"
    gt_dir = work / "gt" / "gtFine" / "val" / city
    gt_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels).save(gt_dir / f"{base}_gtFine_labelIds.png")
    Image.fromarray(instances).save(gt_dir / f"{base}_gtFine_instanceIds.png")
    Image.fromarray(prediction).save(work / "pred" / f"{base}_pred.png")
    return city, base, int(rng.integers(1, 2**62))


def make_data(work: Path, images: int, width: int, height: int) -> None:
    stamp = work / "made.json"
    wanted = {"images": images, "width": width, "height": height, "max_objects": 16}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return
    (work / "pred").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as pool:
        made = list(pool.map(_make_one, [(work, i, width, height) for i in range(images)]))
    test_names = {f"{city}/{base}_leftImg8bit.png": number for city, base, number in made}
    (work / "gt" / "test.p").write_bytes(pickle.dumps(test_names, protocol=4))
    with zipfile.ZipFile(work / "submission.zip", "w") as archive:
        for _city, base, number in made:
            archive.write(work / "pred" / f"{base}_pred.png", f"{number}.png")
    stamp.write_text(json.dumps(wanted))


def _ours(work: Path) -> dict:
    from viprepro.tasks.segmentation import scoring

    options = {"prepared_gt": work / "prepared"}
    scores, cost = timed(lambda: scoring.score(work / "gt", work / "submission.zip", work / "out", mode="official", options=options))
    return {**cost, **{k: scores[k] for k in KEYS}}


def phase_cold(work: Path) -> dict:
    """No prepared ground truth yet: the scorer decodes it, writes --prepared-gt, then scores."""
    shutil.rmtree(work / "prepared", ignore_errors=True)
    return _ours(work)


def phase_warm(work: Path) -> dict:
    """The prepared ground truth of the cold run, checked (SHA-256 of every file) and reused."""
    from viprepro.tasks.segmentation.prepared import MANIFEST

    if not any((work / "prepared").glob(f"*/{MANIFEST}")):
        raise SystemExit("the warm phase runs after the cold one")
    return _ours(work)


def phase_cityscapes(work: Path) -> dict:
    if not hasattr(np, "in1d"):  # removed in numpy 2.4, still called by cityscapesscripts 2.3
        np.in1d = lambda a, b, invert=False: np.isin(np.ravel(a), b, invert=invert)
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs

    cs.args.quiet, cs.args.JSONOutput = True, False
    gt = sorted((work / "gt").rglob("*_gtFine_labelIds.png"))
    predictions = [str(work / "pred" / p.name.replace("_gtFine_labelIds", "_pred")) for p in gt]
    result, cost = timed(lambda: cs.evaluateImgLists(predictions, [str(p) for p in gt], cs.args))
    conf = np.asarray(result["confMatrix"])
    return {
        **cost,
        "iou_class": result["averageScoreClasses"],
        "iiou_class": result["averageScoreInstClasses"],
        "iou_category": result["averageScoreCategories"],
        "iiou_category": result["averageScoreInstCategories"],
        "accuracy": float(np.trace(conf) / conf.sum()),
    }


def phase_decode(work: Path) -> dict:
    files = sorted((work / "gt").rglob("*.png")) + sorted((work / "pred").glob("*.png"))

    def decode_all() -> None:
        for path in files:
            np.asarray(Image.open(io.BytesIO(path.read_bytes())))

    _, cost = timed(decode_all)
    return {**cost, "files": len(files)}


def profile(work: Path, frames: int) -> None:
    """CPU milliseconds per frame of each step of the scorer, in this process (`--profile N`)."""
    from viprepro.files.submission_io import SafeZip, ZipLimits
    from viprepro.tasks.segmentation import measure, prepared, scoring
    from viprepro.tasks.segmentation.submission import list_predictions, pair

    pairs = scoring.find_ground_truth(work / "gt")[:frames]
    predictions, _ = list_predictions(work / "submission.zip", scoring.load_test_names(work / "gt", {}), strict=False)
    matched, _ = pair([label for label, _ in pairs], predictions)
    spent: dict[str, float] = {}

    def step(name, work):
        started = time.process_time()
        result = work()
        spent[name] = spent.get(name, 0.0) + time.process_time() - started
        return result

    with SafeZip(work / "submission.zip", ZipLimits()) as archive:
        for label, inst in pairs:
            member = matched[label][0].member
            data = step("read the zip member", lambda: archive.read(member))
            pred = step("decode the prediction", lambda: measure.decode(data)[3])
            label_bytes, inst_bytes = label.read_bytes(), inst.read_bytes()
            step("warm: SHA-256 of the 2 ground-truth PNGs", lambda: [prepared.sha256_bytes(b) for b in (label_bytes, inst_bytes)])
            labels = step("cold: decode labelIds", lambda: prepared._decode_gt(label_bytes, label))
            instances = step("cold: decode instanceIds (16-bit)", lambda: prepared._decode_gt(inst_bytes, inst))
            truth = step("cold: runs of the ground truth", lambda: prepared.frame_runs(labels, instances, inst))
            step("count: confusion + instance rows", lambda: measure.count(truth, pred))
    for name, seconds in spent.items():
        print(f"{name:44s} {1000 * seconds / len(pairs):6.2f} ms/frame CPU")


PHASES = {"cold": phase_cold, "warm": phase_warm, "cityscapes": phase_cityscapes, "decode": phase_decode}


def run_phase(name: str, work: Path) -> dict:
    """One phase in a child process, so that its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--work", str(work)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_seconds() -> float:
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def timed(work):
    """Result, wall seconds and CPU seconds (this process and the workers it waited for).

    CPU seconds do not depend on what else the machine runs; on an idle machine the wall
    time is about CPU seconds / cores used.
    """
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    return result, {"seconds": time.perf_counter() - wall, "cpu_seconds": cpu_seconds() - cpu}


def peak_rss_mib() -> float:
    """Largest resident set of this process or of any worker it waited for."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "viprepro_bench_segmentation")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=int, metavar="N", help="print the CPU time per frame of each step on N frames, and stop")
    args = parser.parse_args()
    if args.profile:
        make_data(args.work, args.images, args.width, args.height)
        profile(args.work, args.profile)
        return
    if args.phase:
        print(json.dumps({**PHASES[args.phase](args.work), "peak_rss_mib": peak_rss_mib()}))
        return

    started = time.perf_counter()
    make_data(args.work, args.images, args.width, args.height)
    print(
        f"data: {args.images} predictions of {args.width}x{args.height} in {args.work} ({time.perf_counter() - started:.1f} s to make or reuse)"
    )
    results = {name: run_phase(name, args.work) for name in ("decode", "cityscapes", "cold", "warm")}
    for name, label in (
        ("decode", "PNG decoding only (Pillow), 1 core (floor)"),
        ("cityscapes", "cityscapesscripts evaluateImgLists"),
        ("cold", "viprepro score, ground truth prepared"),
        ("warm", "viprepro score, prepared ground truth"),
    ):
        r = results[name]
        print(f"{label:44s} {r['seconds']:7.2f} s wall  {r['cpu_seconds']:7.2f} s CPU  peak RSS {r['peak_rss_mib']:7.1f} MiB")
    theirs = results["cityscapes"]
    from benchlog import record

    differences = []
    for name, what in (
        ("cold", "cold: the ground truth decoded and prepared in the run"),
        ("warm", "warm: the prepared ground truth checked and reused"),
    ):
        ours = results[name]
        ratio, cpu_ratio = theirs["seconds"] / ours["seconds"], theirs["cpu_seconds"] / ours["cpu_seconds"]
        difference = max(abs(ours[k] - theirs[k]) for k in KEYS)
        differences.append(difference)
        print(
            f"{what}: {ratio:.1f}x cityscapesscripts in wall time on {os.cpu_count()} cores (load average "
            f"{os.getloadavg()[0]:.1f}), {cpu_ratio:.1f}x in CPU time; largest difference of the 5 scores: {difference:.3g}; "
            f"the >= 5x target with identical scores: {'met' if ratio >= 5 and difference == 0 else 'NOT met'}"
        )
        record(
            f"segmentation scoring, {args.images} x {args.width}x{args.height}, vs cityscapesscripts (wall), {what}",
            ours=ours["seconds"],
            baseline=theirs["seconds"],
            unit="s",
            ratio=ratio,
            target=">= 5x",
            met=ratio >= 5 and difference == 0,
            note=f"{cpu_ratio:.1f}x in CPU time; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
            f"largest score difference {difference:.1g}",
        )
    print("scores: " + ", ".join(f"{k}={results['warm'][k]:.6f}" for k in KEYS))
    if any(differences):
        raise SystemExit("the scores differ from cityscapesscripts'")


if __name__ == "__main__":
    main()
