# Training: one chain per (submission, seed, ensemble member), from scratch.


rule train_member:
    output:
        model=f"{RESULTS['member']}/model.pt",
        history=f"{RESULTS['member']}/history.json",
        record=f"{RESULTS['member']}/train_record.json",
    input:
        spec=get_spec_path,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    wildcard_constraints:
        submission=ENGINE_SUBMISSIONS,
    params:
        script=script("train.py"),
        forbid=forbidden_paths,
        state_dir=lambda w: result("member", "state", wildcards=w),
        workers=config["data_workers"],
        job=job_options("train_member"),
    log:
        "logs/train_member/{task}/{submission}/seed_{seed}/member_{member}.log",
    benchmark:
        "results/benchmarks/train_member/{task}/{submission}/seed_{seed}/member_{member}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=24 * 60,
        gpu=lambda w: 1 if config["device"] == "cuda" else 0,
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --task {wildcards.task} --spec {input.spec} --subset {input.subset} --seed {wildcards.seed}"
        " --member {wildcards.member} --out {output.model} --history {output.history} --record {output.record}"
        " --state-dir {params.state_dir} --forbid {params.forbid}"
        " --workers {params.workers} --threads {threads} {params.job} > {log} 2>&1"
