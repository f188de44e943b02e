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
        script=script("verdict.py"),
        job=job_options("judge_submission"),
    log:
        "logs/judge_submission/{task}/{submission}.log",
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --spec {input.spec} --scores {input.scores} --histories {input.histories}"
        " --subset {input.subset} --out {output} {params.job} > {log} 2>&1"


rule leaderboard:
    output:
        "results/leaderboard.csv",
    input:
        verdicts=all_verdicts(),
        tracking=rules.init_tracking.output,
    params:
        script=script("leaderboard.py"),
    log:
        "logs/leaderboard/leaderboard.log",
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --verdicts {input.verdicts} --out {output} --rule leaderboard > {log} 2>&1"
