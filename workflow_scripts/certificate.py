"""Write a submission's reproduction certificate (HTML, Markdown, figures, rerun inputs).

    python workflow_scripts/certificate.py --verdict results/<task>/<name>/verdict.json \\
        --train-records results/<task>/<name>/seed_*/member_*/train_record.json \\
        --scores results/<task>/<name>/seed_*/scores --config results/config.resolved.json \\
        --out results/<task>/<name>/certificate

Reads the records of the run only (never the hidden ground truth: the figures that need it
come from the score folders). The same step as `viprepro certificate` (viprepro.steps.certificate).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.certificate import CERTIFICATE

get_args_parser, main = script(CERTIFICATE)

if __name__ == "__main__":
    sys.exit(main())
