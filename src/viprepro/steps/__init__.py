"""The pipeline's steps, each one command: `viprepro <step>` and `workflow_scripts/<step>.py`.

Each module defines its step(s) as `viprepro.jobs.step.Step` objects; `STEPS` names them for the
command line (loaded lazily, so `viprepro score` never imports the training code). A group
(`external`) takes its step's name as the next word: `viprepro external train ...`.
"""

from __future__ import annotations

import importlib

STEPS = {
    "synth": "synth:SYNTH",
    "subset": "subset:SUBSET",
    "validate": "score:VALIDATE",
    "score": "score:SCORE",
    "val-ground-truth": "val_ground_truth:VAL_GROUND_TRUTH",
    "train": "train:TRAIN",
    "probe": "probe:PROBE",
    "collect-member": "stage_record:COLLECT",
    "predict": "predict:PREDICT",
    "verdict": "verdict:VERDICT",
    "certificate": "certificate:CERTIFICATE",
    "leaderboard": "leaderboard:LEADERBOARD",
    "leaderboard-page": "leaderboard:LEADERBOARD_PAGE",
    "init-tracking": "init_tracking:INIT_TRACKING",
    "external": {
        "environment": "external:ENVIRONMENT",
        "train": "external:TRAIN",
        "predict": "external:PREDICT",
    },
}


def get_step(name: str, sub: str | None = None):
    entry = STEPS[name]
    if isinstance(entry, dict):
        entry = entry[sub]
    module, _, attribute = entry.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
