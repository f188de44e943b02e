# Reports: a reproduction certificate per submission, and the leaderboard page.
# The certificate reads the run's records and the score folders' figures, never the hidden
# ground truth (only score_submission reads it, and draws the figures that need it).


rule certify_submission:
    input:
        verdict=rules.judge_submission.output[0],
        scores=get_seed_scores,
        train_records=get_train_records,
        claimed_log=get_claimed_log,
        ablation=get_ablation_verdict,
        config=rules.resolved_config.output[0],
        tracking=rules.init_tracking.output,
    output:
        report(
            directory(RESULTS["certificate"]),
            patterns=["figures/{figure}.png"],
            caption="../report/certificate.rst",
            category="Certificates",
            subcategory="{task}",
            labels={"task": "{task}", "submission": "{submission}", "figure": "{figure}"},
        ),
    log:
        "logs/certify_submission/{task}/{submission}.log",
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        script=script("certificate.py"),
        claimed_log=lambda w, input: f"--claimed-log {input.claimed_log}" if input.claimed_log else "",
        ablation=lambda w, input: f"--ablation-verdict {input.ablation}" if input.ablation else "",
        job=job_options("certify_submission"),
    shell:
        "python {params.script} --task {wildcards.task} --verdict {input.verdict} --train-records {input.train_records} --scores {input.scores}"
        " {params.claimed_log} {params.ablation} --config {input.config} --out {output} --threads {threads} {params.job} > {log} 2>&1"


rule leaderboard_page:
    input:
        leaderboard=rules.leaderboard.output[0],
        certificates=all_certificates(),
        tracking=rules.init_tracking.output,
    output:
        report(
            RESULTS["leaderboard_page"],
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"file": "leaderboard.html"},
        ),
    log:
        "logs/leaderboard_page/leaderboard_page.log",
    conda:
        "../envs/viprepro.yaml"
    params:
        script=script("leaderboard_page.py"),
        job=job_options("leaderboard_page"),
    shell:
        "python {params.script} --leaderboard {input.leaderboard} --out {output} {params.job} > {log} 2>&1"
