# Scoring: the only rule that reads the hidden test ground truth.


rule score_submission:
    output:
        report(
            directory(f"{RESULTS['seed']}/scores"),
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
        " --out {output} --mode {params.mode} --on-invalid record --submission-name {wildcards.submission} --seed {wildcards.seed}"
        " --subset {input.subset} --threads {threads} {params.job} > {log} 2>&1"


rule val_ground_truth:
    # Val labels are public: their ground truth lives beside the subset, not in hidden/.
    output:
        directory(RESULTS["val_gt"]),
    input:
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    params:
        script=script("val_ground_truth.py"),
        job=job_options("val_ground_truth"),
    log:
        "logs/val_ground_truth/{task}.log",
    benchmark:
        "results/benchmarks/val_ground_truth/{task}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --task {wildcards.task} --subset {input.subset} --out {output}"
        " --threads {threads} {params.job} > {log} 2>&1"


rule score_val:
    # A claim on val is judged on these: the val submission, scored as the test one is.
    output:
        directory(f"{RESULTS['val']}/scores"),
    input:
        submission=val_submission_file,
        val_gt=rules.val_ground_truth.output,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    params:
        script=script("score.py"),
        mode=config["scoring_mode"],
        job=job_options("score_val"),
    wildcard_constraints:
        submission=ENGINE_SUBMISSIONS,
    log:
        "logs/score_val/{task}/{submission}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/score_val/{task}/{submission}/seed_{seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --task {wildcards.task} --val-gt {input.val_gt} --submission {input.submission}"
        " --out {output} --mode {params.mode} --on-invalid record --submission-name {wildcards.submission} --seed {wildcards.seed}"
        " --subset {input.subset} --no-figures --threads {threads} {params.job} > {log} 2>&1"
