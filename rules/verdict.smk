# Verdicts: reproduced (every seed) against claimed, then the leaderboard.


rule judge_submission:
    output:
        "results/{task}/{submission}/verdict.json",
    input:
        spec=get_spec_path,
        scores=get_seed_scores,
        histories=get_seed_histories,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    params:
        job=job_options(),
    log:
        "logs/judge_submission/{task}/{submission}.log",
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {SCRIPTS}/verdict.py --spec {input.spec} --scores {input.scores} --histories {input.histories}"
        " --subset {input.subset} --out {output} --rule {rule} {params.job} > {log} 2>&1"


rule leaderboard:
    output:
        "results/leaderboard.csv",
    input:
        verdicts=all_verdicts(),
        tracking=rules.init_tracking.output,
    log:
        "logs/leaderboard/leaderboard.log",
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {SCRIPTS}/leaderboard.py --verdicts {input.verdicts} --out {output} --rule {rule} > {log} 2>&1"
