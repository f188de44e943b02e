"""Judge a submission: reproduced scores (every seed) against its claims, with the evidence.

    python workflow_scripts/verdict.py --spec SPEC --subset results/data/<task>/subset \\
        --scores results/<task>/<name>/seed_*/scores --train-records results/<task>/<name>/seed_*/member_*/train_record.json \\
        --predict-records results/<task>/<name>/seed_*/submission.*.record.json --out results/<task>/<name>/verdict.json \\
        [--val-scores results/<task>/<name>/seed_*/val/scores --val-predict-records results/<task>/<name>/seed_*/val/submission.*.record.json]

The verdict record holds the decision (README, "How a verdict is decided"), the seed band,
the determinism record, the rule-compliance audits, the efficiency figures and the
provenance; its assembly is viprepro.judging.verdict_record. The same step as `viprepro verdict`
(viprepro.steps.verdict).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.verdict import VERDICT, build_verdict  # noqa: F401  (build_verdict: the record alone, for tests)

get_args_parser, main = script(VERDICT)

if __name__ == "__main__":
    sys.exit(main())
