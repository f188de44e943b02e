"""Registry of the challenge tasks. Each lives in `viprepro.tasks.<name>` and exposes `TASK`.

`METRIC_KEYS` and `SUBMISSION_FILES` repeat each task's metric keys (main metric first) and
submission file name so that the Snakefile and specs need not import torch; a test keeps
them equal to the tasks' own `metrics` and `submission_filename`.
"""

from __future__ import annotations

import importlib

TASK_NAMES = ("classification", "segmentation", "detection", "action_recognition")

METRIC_KEYS = {
    "classification": ("top1",),
    "segmentation": ("iou_class", "iiou_class", "iou_category", "iiou_category", "accuracy"),
    "detection": ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large"),
    "action_recognition": ("top1", "top3", "top5"),
}

SUBMISSION_FILES = {
    "classification": "submission.csv",
    "segmentation": "submission.zip",
    "detection": "submission.json",
    "action_recognition": "submission.txt",
}


def get_task(name: str):
    """The task object (imports torch and the task's modules)."""
    if name not in TASK_NAMES:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASK_NAMES)}")
    return importlib.import_module(f"{__name__}.{name}").TASK
