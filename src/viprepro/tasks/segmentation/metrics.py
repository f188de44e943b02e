"""The official scores from a 34x34 confusion matrix and per-instance counts.

A port of cityscapesScripts' `evalPixelLevelSemanticLabeling` (as the challenge's
`evaluate.py` uses it), rule for rule:
- IoU of a label: tp = diagonal, fn = row sum - tp, fp = column sum over the rows of the
  *evaluated* labels other than itself (void ground truth never makes a false positive);
- iIoU: tp and fn of every ground-truth instance (instance id > 1000) weighted by
  avgClassSize / instance size; fp as for IoU. Per category, the instance categories
  (human, vehicle) count every label of the category as a hit, including the unevaluated
  caravan and trailer, also in fp;
- averages skip NaN (a label or category without ground truth and predictions);
- Accuracy = trace / total over all 34 ids, void ground truth included.
Sums run in the official order (labels by id, images in ground-truth order, instances by
id), so the floating-point results are the official ones bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from viprepro.tasks.segmentation.labels import AVG_CLASS_SIZE, CATEGORIES, CATEGORY_OF, EVAL_IDS, EVALUATED, HAS_INSTANCES, NAMES, NUM_IDS

#: categories whose every label has instances: the only ones with an iIoU
INSTANCE_CATEGORIES = tuple(c for c in range(len(CATEGORIES)) if HAS_INSTANCES[CATEGORY_OF == c].all())
INSTANCE_CLASSES = tuple(i for i in range(NUM_IDS) if HAS_INSTANCES[i] and EVALUATED[i])


class InstanceTotals:
    """Weighted tp/fn per label and per category, accumulated in the official order."""

    def __init__(self):
        self.label = {i: [0.0, 0.0] for i in INSTANCE_CLASSES}
        self.category = {c: [0.0, 0.0] for c in INSTANCE_CATEGORIES}

    def add(self, rows: np.ndarray) -> None:
        """rows: (instance id, size, tp, category tp) per instance, ascending ids."""
        for inst_id, size, tp, cat_tp in rows.tolist():
            label = inst_id // 1000
            if not EVALUATED[label]:
                continue
            weight = AVG_CLASS_SIZE[NAMES[label]] / float(size)
            totals = self.label[label]
            totals[0] += float(tp) * weight
            totals[1] += float(size - tp) * weight
            category = int(CATEGORY_OF[label])
            if category in self.category:
                totals = self.category[category]
                totals[0] += float(cat_tp) * weight
                totals[1] += float(size - cat_tp) * weight


def _ratio(tp, denom) -> float:
    return float("nan") if denom == 0 else float(tp) / denom


def _average(scores: list[float]) -> float:
    valid = [s for s in scores if not math.isnan(s)]
    total = 0.0
    for s in valid:
        total += s
    return total / len(valid) if valid else float("nan")


def summarize(conf: np.ndarray, instances: InstanceTotals) -> dict:
    """Per-label and per-category scores and their averages, as the official script."""
    conf = conf.astype(np.int64)
    evaluated_rows = conf[list(EVAL_IDS)]
    class_iou, class_iiou = {}, {}
    for label in range(NUM_IDS):
        if not EVALUATED[label]:
            class_iou[label] = class_iiou[label] = float("nan")
            continue
        tp = np.longlong(conf[label, label])
        fn = np.longlong(conf[label].sum()) - tp
        fp = np.longlong(evaluated_rows[:, label].sum()) - tp
        class_iou[label] = _ratio(tp, tp + fp + fn)
        if label in instances.label:
            itp, ifn = instances.label[label]
            class_iiou[label] = _ratio(itp, itp + fp + ifn)
        else:
            class_iiou[label] = float("nan")

    category_iou, category_iiou = {}, {}
    for category in range(len(CATEGORIES)):
        members = np.flatnonzero(CATEGORY_OF == category)
        scored = [int(i) for i in members if EVALUATED[i]]
        others = [i for i in EVAL_IDS if CATEGORY_OF[i] != category]
        if scored:
            tp = np.longlong(conf[np.ix_(scored, scored)].sum())
            fn = np.longlong(conf[scored].sum()) - tp
            fp = np.longlong(conf[np.ix_(others, scored)].sum())
            category_iou[category] = _ratio(tp, tp + fp + fn)
        else:
            category_iou[category] = float("nan")
        if category in instances.category:
            itp, ifn = instances.category[category]
            fp = np.longlong(conf[np.ix_(others, members)].sum())
            category_iiou[category] = _ratio(itp, itp + fp + ifn)
        else:
            category_iiou[category] = float("nan")

    return {
        "iou_class": _average(list(class_iou.values())),
        "iiou_class": _average(list(class_iiou.values())),
        "iou_category": _average(list(category_iou.values())),
        "iiou_category": _average(list(category_iiou.values())),
        "accuracy": float(np.trace(conf) / np.sum(conf)) if conf.sum() else float("nan"),
        "per_class_iou": {NAMES[i]: class_iou[i] for i in EVAL_IDS},
        "per_class_iiou": {NAMES[i]: class_iiou[i] for i in INSTANCE_CLASSES},
        "per_category_iou": {CATEGORIES[c]: v for c, v in category_iou.items() if EVALUATED[CATEGORY_OF == c].any()},
        "per_category_iiou": {CATEGORIES[c]: category_iiou[c] for c in INSTANCE_CATEGORIES},
    }


def results_text(scores: dict) -> str:
    """The challenge's results.txt (its `writeDict2Txt`: str() of each value, no final newline)."""
    return (
        f"IoU Class: {scores['iou_class']!s}\n"
        f"iIoU Class: {scores['iiou_class']!s}\n"
        f"IoU Category: {scores['iou_category']!s}\n"
        f"iIoU Category: {scores['iiou_category']!s}\n"
        f"Accuracy: {scores['accuracy']!s}"
    )
