# Inference: the test split into the official submission format (ensembles averaged).


rule predict_submission:
    input:
        spec=get_spec_path,
        subset=rules.subset_dataset.output.subset,
        checkpoints=get_member_checkpoints,
        tracking=rules.init_tracking.output,
    output:
        submission=f"{RESULTS['seed']}/submission.{{ext}}",
        record=f"{RESULTS['seed']}/submission.{{ext}}.record.json",
    log:
        "logs/predict_submission/{task}/{submission}/seed_{seed}.{ext}.log",
    benchmark:
        "results/benchmarks/predict_submission/{task}/{submission}/seed_{seed}.{ext}.tsv"
    wildcard_constraints:
        submission=ENGINE_SUBMISSIONS,
        ext=SUBMISSION_EXTENSIONS,
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=6 * 60,
        gpu=lambda w: 1 if config["device"] == "cuda" else 0,
    params:
        script=script("predict.py"),
        workers=config["data_workers"],
        repeats=config["inference_repeats"],
        job=job_options("predict_submission"),
    shell:
        "python {params.script} --task {wildcards.task} --spec {input.spec} --subset {input.subset} --checkpoints {input.checkpoints}"
        " --seed {wildcards.seed} --out {output.submission} --record {output.record} --repeats {params.repeats}"
        " --workers {params.workers} --threads {threads} {params.job} > {log} 2>&1"


rule predict_val:
    input:
        spec=get_spec_path,
        subset=rules.subset_dataset.output.subset,
        checkpoints=get_member_checkpoints,
        tracking=rules.init_tracking.output,
    # The val split of a submission that claims a score on val, through the same members,
    # ensemble averaging, TTA and inference resolution as its test submission.
    output:
        submission=f"{RESULTS['val']}/submission.{{ext}}",
        record=f"{RESULTS['val']}/submission.{{ext}}.record.json",
    log:
        "logs/predict_val/{task}/{submission}/seed_{seed}.{ext}.log",
    benchmark:
        "results/benchmarks/predict_val/{task}/{submission}/seed_{seed}.{ext}.tsv"
    wildcard_constraints:
        submission=ENGINE_SUBMISSIONS,
        ext="csv|zip|json|txt",
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=6 * 60,
        gpu=lambda w: 1 if config["device"] == "cuda" else 0,
    params:
        script=script("predict.py"),
        workers=config["data_workers"],
        job=job_options("predict_val"),
    shell:
        # One repetition: the determinism record is the test submission's (predict_submission).
        "python {params.script} --task {wildcards.task} --spec {input.spec} --subset {input.subset} --checkpoints {input.checkpoints}"
        " --seed {wildcards.seed} --split val --out {output.submission} --record {output.record} --repeats 1"
        " --workers {params.workers} --threads {threads} {params.job} > {log} 2>&1"
