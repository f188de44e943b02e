# Participants' own code (`kind: external` specs): their environment, then their training and
# prediction commands, all in the bubblewrap sandbox instead of our engine, with decoys where
# the hidden ground truth and the source dataset are (--forbid). The submission file the
# prediction writes is scored and judged by the same rules as every other submission; a
# limit hit or a failed audit leaves placeholder outputs and a record the verdict judges.


localrules:
    external_environment,


# On the login node: pip may need the network, which compute nodes lack (the install runs in
# the sandbox, whose network namespace is shared with the host's for this step only).
rule external_environment:
    input:
        spec=get_spec_path,
        tracking=rules.init_tracking.output,
    output:
        directory(RESULTS["environment"]),
    log:
        "logs/external_environment/{task}/{submission}.log",
    wildcard_constraints:
        submission=EXTERNAL_SUBMISSIONS,
    conda:
        "../envs/viprepro.yaml"
    params:
        script=script("external.py"),
        job=job_options("external_environment"),
        forbid=forbidden_paths,
    shell:
        "python {params.script} environment --task {wildcards.task} --spec {input.spec} --out {output} --forbid {params.forbid} {params.job} > {log} 2>&1"


rule train_external:
    input:
        spec=get_spec_path,
        environment=rules.external_environment.output,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    output:
        model=directory(f"{RESULTS['external']}/train"),
        record=f"{RESULTS['external']}/train_record.json",
    log:
        "logs/train_external/{task}/{submission}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/train_external/{task}/{submission}/seed_{seed}.tsv"
    wildcard_constraints:
        submission=EXTERNAL_SUBMISSIONS,
    conda:
        "../envs/viprepro.yaml"
    threads: lambda w: external_limit(w, "threads")
    resources:
        mem_mb=lambda w: external_limit(w, "memory_mb"),
        runtime=lambda w: external_limit(w, "train_minutes"),
    params:
        script=script("external.py"),
        job=job_options("train_external"),
        forbid=forbidden_paths,
    shell:
        "python {params.script} train --task {wildcards.task} --spec {input.spec} --environment {input.environment} --subset {input.subset}"
        " --seed {wildcards.seed} --out {output.model} --record {output.record} --threads {threads} --forbid {params.forbid}"
        " {params.job} > {log} 2>&1"


rule predict_external:
    input:
        spec=get_spec_path,
        environment=rules.external_environment.output,
        model=rules.train_external.output.model,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    output:
        submission=f"{RESULTS['seed']}/submission.{{ext}}",
        record=f"{RESULTS['seed']}/submission.{{ext}}.record.json",
    log:
        "logs/predict_external/{task}/{submission}/seed_{seed}.{ext}.log",
    benchmark:
        "results/benchmarks/predict_external/{task}/{submission}/seed_{seed}.{ext}.tsv"
    wildcard_constraints:
        submission=EXTERNAL_SUBMISSIONS,
        ext=SUBMISSION_EXTENSIONS,
    conda:
        "../envs/viprepro.yaml"
    threads: lambda w: external_limit(w, "threads")
    resources:
        mem_mb=lambda w: external_limit(w, "memory_mb"),
        runtime=lambda w: external_limit(w, "predict_minutes"),
    params:
        script=script("external.py"),
        job=job_options("predict_external"),
        forbid=forbidden_paths,
    shell:
        "python {params.script} predict --task {wildcards.task} --spec {input.spec} --environment {input.environment} --subset {input.subset}"
        " --model-dir {input.model} --seed {wildcards.seed} --out {output.submission} --record {output.record}"
        " --threads {threads} --forbid {params.forbid} {params.job} > {log} 2>&1"
