"""Run a participant's own code (a `kind: external` spec): its environment, training, prediction.

    python workflow_scripts/external.py environment --spec SPEC --out results/<task>/<name>/external/environment
    python workflow_scripts/external.py train --spec SPEC --environment ENV --subset SUBSET --seed 0 \
        --out results/<task>/<name>/seed_0/external/train --record .../external/train_record.json
    python workflow_scripts/external.py predict --spec SPEC --environment ENV --subset SUBSET --seed 0 \
        --model-dir .../external/train --out .../seed_0/submission.csv --record .../submission.csv.record.json

The same steps, flags and behaviour as `viprepro external environment|train|predict`
(viprepro.steps.external; their logic is viprepro.external.jobs): a limit hit or a failed
audit is not a failed job, the record says it and the verdict judges it.
"""

from __future__ import annotations

import sys

from viprepro.cli import main

if __name__ == "__main__":
    sys.exit(main(["external", *sys.argv[1:]]))
