# Scoring: the only rule that reads the hidden test ground truth.


rule score_submission:
    output:
        report(
            directory("results/{task}/{submission}/seed_{seed}/scores"),
            patterns=["figures/{figure}.png"],
            caption="../report/score_figures.rst",
            category="Test predictions",
            subcategory="{task}",
            labels={"task": "{task}", "submission": "{submission}", "seed": "{seed}", "figure": "{figure}"},
        ),
    input:
        submission=submission_file,
        hidden=rules.subset_dataset.output.hidden,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    params:
        script=script("score.py"),
        mode=config["scoring_mode"],
        job=job_options("score_submission"),
    log:
        "logs/score_submission/{task}/{submission}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/score_submission/{task}/{submission}/seed_{seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --task {wildcards.task} --hidden {input.hidden} --submission {input.submission}"
        " --out {output} --mode {params.mode} --submission-name {wildcards.submission} --seed {wildcards.seed}"
        " --subset {input.subset} --threads {threads} {params.job} > {log} 2>&1"
