"""Participants' own code as a submission kind (`kind: external` in a spec).

`steps` turns the spec's command templates into sandboxed training and prediction, with
fixed paths inside the sandbox; `sandbox` runs one command under bubblewrap (no network, no
source dataset, no test ground truth, read-only inputs, one writable output folder, time and
memory limits). The submission file the prediction writes is then validated, scored and
judged by the same rules as every other submission. See docs/external_submissions.md.
"""

from viprepro.external.sandbox import Limits, Mount, SandboxResult, check_available
from viprepro.external.steps import PLACEHOLDERS, build_environment, collect_submission, external_part, render, run_step

__all__ = [
    "Limits",
    "Mount",
    "SandboxResult",
    "check_available",
    "PLACEHOLDERS",
    "build_environment",
    "collect_submission",
    "external_part",
    "render",
    "run_step",
]
