# viprepro: rerun VIPriors challenge submissions end to end and check their claims.
# Orchestration only; the logic lives in src/viprepro (see docs/architecture.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/tracking.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/stages_common.smk"
include: "rules/stages.smk"
include: "rules/predict.smk"
include: "rules/external.smk"
include: "rules/score.smk"
include: "rules/verdict.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
