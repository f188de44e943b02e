# Reports: a reproduction certificate per submission, and the leaderboard page.
# The certificate reads the run's records and the score folders' figures, never the hidden
# ground truth (only score_submission reads it, and draws the figures that need it).


rule certify_submission:
    output:
        report(
            directory(RESULTS["certificate"]),
            patterns=["figures/{figure}.png"],
            caption="../report/certificate.rst",
            category="Certificates",
            subcategory="{task}",
            labels={"task": "{task}", "submission": "{submission}", "figure": "{figure}"},
        ),
    input:
        verdict=rules.judge_submission.output[0],
        scores=get_seed_scores,
        train_records=get_train_records,
        claimed_log=get_claimed_log,
        config=rules.resolved_config.output[0],
        tracking=rules.init_tracking.output,
    params:
        script=script("certificate.py"),
        claimed_log=lambda w, input: f"--claimed-log {input.claimed_log}" if input.claimed_log else "",
        job=job_options("certify_submission"),
    log:
        "logs/certify_submission/{task}/{submission}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --task {wildcards.task} --verdict {input.verdict} --train-records {input.train_records} --scores {input.scores}"
        " {params.claimed_log} --config {input.config} --out {output} --threads {threads} {params.job} > {log} 2>&1"


rule leaderboard_page:
    output:
        report(
            RESULTS["leaderboard_page"],
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"file": "leaderboard.html"},
        ),
    input:
        leaderboard=rules.leaderboard.output[0],
        certificates=all_certificates(),
        tracking=rules.init_tracking.output,
    params:
        script=script("leaderboard_page.py"),
        job=job_options("leaderboard_page"),
    log:
        "logs/leaderboard_page/leaderboard_page.log",
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --leaderboard {input.leaderboard} --out {output} {params.job} > {log} 2>&1"
