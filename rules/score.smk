# Scoring: the only rule that reads the hidden test ground truth.


rule score_submission:
    input:
        submission=submission_file,
        hidden=rules.subset_dataset.output.hidden,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    output:
        report(
            directory(f"{RESULTS['seed']}/scores"),
            patterns=["figures/{figure}.png"],
            caption="../report/score_figures.rst",
            category="Test predictions",
            subcategory="{task}",
            labels={"task": "{task}", "submission": "{submission}", "seed": "{seed}", "figure": "{figure}"},
        ),
    log:
        "logs/score_submission/{task}/{submission}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/score_submission/{task}/{submission}/seed_{seed}.tsv"
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        script=script("score.py"),
        edition=edition_flag,
        prepared=prepared_gt_flag,
        mode=config["scoring_mode"],
        job=job_options("score_submission"),
    shell:
        "python {params.script} --task {wildcards.task} --hidden {input.hidden} --submission {input.submission}"
        " --out {output} --mode {params.mode} --on-invalid record --submission-name {wildcards.submission} --seed {wildcards.seed}"
        " --subset {input.subset} {params.edition} {params.prepared} --threads {threads} {params.job} > {log} 2>&1"


rule val_ground_truth:
    input:
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    # Val labels are public: their ground truth lives beside the subset, not in hidden/.
    output:
        directory(RESULTS["val_gt"]),
    log:
        "logs/val_ground_truth/{task}.log",
    benchmark:
        "results/benchmarks/val_ground_truth/{task}.tsv"
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        script=script("val_ground_truth.py"),
        job=job_options("val_ground_truth"),
    shell:
        "python {params.script} --task {wildcards.task} --subset {input.subset} --out {output}"
        " --threads {threads} {params.job} > {log} 2>&1"


rule score_val:
    input:
        submission=val_submission_file,
        val_gt=rules.val_ground_truth.output,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    # A claim on val is judged on these: the val submission, scored as the test one is.
    output:
        directory(f"{RESULTS['val']}/scores"),
    log:
        "logs/score_val/{task}/{submission}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/score_val/{task}/{submission}/seed_{seed}.tsv"
    wildcard_constraints:
        submission=ENGINE_SUBMISSIONS,
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        script=script("score.py"),
        edition=edition_flag,
        prepared=prepared_gt_flag,
        mode=config["scoring_mode"],
        job=job_options("score_val"),
    shell:
        "python {params.script} --task {wildcards.task} --val-gt {input.val_gt} --submission {input.submission}"
        " --out {output} --mode {params.mode} --on-invalid record --submission-name {wildcards.submission} --seed {wildcards.seed}"
        " --subset {input.subset} --no-figures {params.edition} {params.prepared} --threads {threads} {params.job} > {log} 2>&1"
