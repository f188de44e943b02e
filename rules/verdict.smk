# Verdicts: reproduced (every seed) against claimed, then the leaderboard.


rule judge_submission:
    input:
        spec=get_spec_path,
        scores=get_seed_scores,
        train_records=get_train_records,
        predict_records=get_predict_records,
        val_scores=get_val_seed_scores,
        val_predict_records=get_val_predict_records,
        claimed_log=get_claimed_log,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    output:
        RESULTS["verdict"],
    log:
        "logs/judge_submission/{task}/{submission}.log",
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        script=script("verdict.py"),
        min_seeds=config["seed_band"]["min_seeds"],
        job=job_options("judge_submission"),
    shell:
        "python {params.script} --task {wildcards.task} --spec {input.spec} --subset {input.subset} --scores {input.scores}"
        " --train-records {input.train_records} --predict-records {input.predict_records}"
        " --val-scores {input.val_scores} --val-predict-records {input.val_predict_records}"
        " --min-seeds {params.min_seeds} --out {output} --threads {threads} {params.job} > {log} 2>&1"


rule leaderboard:
    input:
        verdicts=all_verdicts(),
        tracking=rules.init_tracking.output,
    output:
        report(
            RESULTS["leaderboard"],
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"file": "leaderboard.csv"},
        ),
    log:
        "logs/leaderboard/leaderboard.log",
    conda:
        "../envs/viprepro.yaml"
    params:
        script=script("leaderboard.py"),
        job=job_options("leaderboard"),
    shell:
        "python {params.script} --verdicts {input.verdicts} --out {output} {params.job} > {log} 2>&1"
