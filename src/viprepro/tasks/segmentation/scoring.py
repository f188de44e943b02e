"""Score a submission zip against Cityscapes ground truth: `official` and `strict` modes.

`gt` is a folder searched recursively for `*_gtFine_labelIds.png`, each with its
`_gtFine_instanceIds.png` beside it. Predictions named `<int>.png` are mapped back through
test.p: the `test_names` option, or else a `test.p` at the top of `gt` (the hidden folder
that `subset` writes holds one). Two passes on the CPU cores (forked workers that receive
paths, not pixels): `prepared.py` decodes and checks the ground truth into runs, unless the
`prepared_gt` folder already holds them for exactly these files (SHA-256); `measure.py`
decodes and counts each prediction against its frame's runs (each worker reading the zip and
the memory-mapped runs itself); `metrics.py` turns the summed counts into the official scores.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from viprepro.errors import UserError, ValidationFailed
from viprepro.files.fileio import atomic_path, write_json
from viprepro.files.submission_io import SafeZip, ZipLimits
from viprepro.tasks.segmentation.labels import NUM_IDS
from viprepro.tasks.segmentation.measure import ImageResult, measure
from viprepro.tasks.segmentation.metrics import InstanceTotals, results_text, summarize
from viprepro.tasks.segmentation.prepared import PreparedTruth, copy_folder, ground_truth_files, prepare_frame, stale_reason, write_prepared
from viprepro.tasks.segmentation.submission import GT_SUFFIX, list_predictions, pair
from viprepro.tasks.segmentation.subset import TEST_NAMES, read_test_names

log = logging.getLogger(__name__)

RESULTS_NAME = "results.txt"
CONFUSION_NAME = "confusion_matrix.csv"


def find_ground_truth(gt: Path) -> list[tuple[Path, Path]]:
    """(labelIds, instanceIds) pairs under `gt`, in path order."""
    gt = Path(gt)
    if not gt.is_dir():
        raise UserError("ground truth folder not found", path=gt)
    labels = sorted(gt.rglob(f"*{GT_SUFFIX}"))
    if not labels:
        raise UserError(f"no *{GT_SUFFIX} files found", path=gt)
    pairs = [(p, p.with_name(p.name.replace("labelIds", "instanceIds"))) for p in labels]
    missing = [str(inst) for _, inst in pairs if not inst.is_file()]
    if missing:
        raise UserError(f"{len(missing)} instanceIds file(s) missing, e.g. {missing[0]}", path=gt)
    return pairs


def load_test_names(gt: Path, options: dict) -> dict[str, tuple[str, str]] | None:
    path = options.get("test_names") or (Path(gt) / TEST_NAMES)
    return read_test_names(Path(path)) if options.get("test_names") or Path(path).is_file() else None


_open_zips: dict[str, SafeZip] = {}
_open_prepared: dict[str, PreparedTruth] = {}


def _measure_item(item: tuple[str, ZipLimits, str, str, int, str]) -> ImageResult:
    """One prediction against frame `index` of the prepared folder (a worker opens each zip and folder once)."""
    zip_path, limits, member, folder, index, gt_name = item
    try:
        archive = _open_zips.get(zip_path) or _open_zips.setdefault(zip_path, SafeZip(zip_path, limits))
        data = archive.read(member)
    except UserError as exc:
        return ImageResult(problems=[f"{member}: {exc.problem}"], fatal=f"Unable to load {member}: {exc.problem}")
    truth = _open_prepared.get(folder) or _open_prepared.setdefault(folder, PreparedTruth(Path(folder)))
    return measure(data, member, truth.frame(index), gt_name)


class _Workers:
    """`map` in this process, or on a pool of forked workers made on first use and kept for both
    passes (preparing the ground truth, measuring the predictions); workers get paths, not pixels."""

    def __init__(self, workers: int, items: int):
        self.serial = workers <= 1 or items < 4 * workers
        self.workers, self.pool = workers, None

    def map(self, function, items: list) -> list:
        if self.serial:
            return [function(item) for item in items]
        if self.pool is None:
            context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return list(self.pool.map(function, items, chunksize=max(1, len(items) // (self.workers * 8))))

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        for archive in _open_zips.values():
            archive.close()
        _open_zips.clear()
        _open_prepared.clear()


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def prepare_ground_truth(gt: Path, pairs: list[tuple[Path, Path]], root: Path, workers: _Workers) -> Path:
    """The folder under `root` holding the prepared copy of this ground truth, made unless it is there and good."""
    files = ground_truth_files(gt, pairs)
    folder = copy_folder(root, files)
    reason = stale_reason(folder, files)
    if reason is not None:
        write_prepared(folder, files, workers.map(prepare_frame, pairs))
        log.info("prepared the ground truth in %s (%s)", folder, reason)
    return folder


def evaluate(gt: Path, submission: Path, *, strict: bool, options: dict) -> tuple[list[str], list[ImageResult]]:
    """Problems (strict) and per-image results, in ground-truth order.

    In official mode the first fatal condition of the official script raises a UserError.
    """
    gt_pairs = find_ground_truth(gt)
    names = load_test_names(gt, options)
    limits = ZipLimits.from_options(options)
    predictions, problems = list_predictions(Path(submission), names, strict=strict, limits=limits)
    matched, unmatched = pair([label for label, _ in gt_pairs], predictions)
    number_of = {f"{name}{GT_SUFFIX}": number for number, (_, name) in (names or {}).items()}
    for prediction in unmatched if strict else []:
        problems.append(f"{prediction.member}: matches no ground-truth image (extra prediction)")
    for label, _ in gt_pairs:
        found = matched[label]
        if len(found) == 1:
            continue
        alias = f" ({number_of[label.name]}.png)" if label.name in number_of else ""
        if not strict:
            what = "no prediction" if not found else "multiple predictions"
            raise UserError(f"official scorer: Found {what} for ground truth {label}{alias}", path=submission)
        if not found:
            problems.append(f"missing prediction for {label.name}{alias}")
        else:
            problems.append(f"{len(found)} predictions for {label.name}{alias}: {', '.join(p.member for p in found)}")

    with _Workers(options.get("workers") or default_workers(), len(gt_pairs)) as workers, tempfile.TemporaryDirectory() as scratch:
        folder = prepare_ground_truth(Path(gt), gt_pairs, Path(options.get("prepared_gt") or scratch), workers)
        items = [
            (str(submission), limits, matched[label][0].member, str(folder), index, label.name)
            for index, (label, _) in enumerate(gt_pairs)
            if len(matched[label]) == 1
        ]
        results = workers.map(_measure_item, items)
    for result in results:
        if strict:
            problems += result.problems
        elif result.fatal:
            raise UserError(f"official scorer: {result.fatal}", path=submission)
    return problems, results


def validate(gt: Path, submission: Path, options: dict) -> list[str]:
    problems, _ = evaluate(gt, submission, strict=True, options=options)
    return problems


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def confusion_csv(conf: np.ndarray) -> str:
    """Rows: ground-truth label id, columns: predicted label id."""
    lines = ["gt/pred," + ",".join(str(i) for i in range(NUM_IDS))]
    lines += [f"{i}," + ",".join(str(int(v)) for v in row) for i, row in enumerate(conf)]
    return "\n".join(lines) + "\n"


def score(gt: Path, submission: Path, out: Path, *, mode: str, options: dict) -> dict:
    if mode not in ("official", "strict"):
        raise ValueError(f"mode must be 'official' or 'strict', not {mode!r}")
    problems, results = evaluate(gt, submission, strict=mode == "strict", options=options)
    if problems:
        raise ValidationFailed(submission, problems)
    conf = np.zeros(NUM_IDS * NUM_IDS, dtype=np.int64)
    totals = InstanceTotals()
    for result in results:
        conf += result.conf
        totals.add(result.instances)
    conf = conf.reshape(NUM_IDS, NUM_IDS)
    scores = summarize(conf, totals)
    text = results_text(scores)
    scores = _json_safe({**scores, "mode": mode, "images": len(results), "pixels": int(conf.sum())})
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        (staged / RESULTS_NAME).write_text(text, encoding="utf-8")
        (staged / CONFUSION_NAME).write_text(confusion_csv(conf), encoding="utf-8")
        write_json(staged / "scores.json", scores)
    return scores
