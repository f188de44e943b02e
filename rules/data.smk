# Data: the synthetic dataset (embedded default) and the official subset of each task.


rule synthesize_dataset:
    input:
        tracking=rules.init_tracking.output,
    output:
        directory(RESULTS["synthetic"]),
    log:
        "logs/synthesize_dataset/{task}.log",
    benchmark:
        "results/benchmarks/synthesize_dataset/{task}.tsv"
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        script=script("synthesize.py"),
        edition=edition_flag,
        seed=lambda w: config["datasets"][w.task]["synthetic"]["seed"],
        options=lambda w: option_flags(config["datasets"][w.task]["synthetic"]["options"]),
        job=job_options("synthesize_dataset"),
    shell:
        "python {params.script} --task {wildcards.task} --out {output} --seed {params.seed}"
        " {params.options} {params.edition} --threads {threads} {params.job} > {log} 2>&1"


rule subset_dataset:
    input:
        unpack(get_dataset_source),
        tracking=rules.init_tracking.output,
    output:
        subset=directory(RESULTS["subset"]),
        hidden=directory(RESULTS["hidden"]),
    log:
        "logs/subset_dataset/{task}.log",
    benchmark:
        "results/benchmarks/subset_dataset/{task}.tsv"
    conda:
        "../envs/viprepro.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        script=script("subset.py"),
        edition=edition_flag,
        paths=source_paths,
        link=lambda w: config["datasets"][w.task]["link"],
        job=job_options("subset_dataset"),
    shell:
        "python {params.script} --task {wildcards.task} --source {params.paths[source]}"
        " --manifests {params.paths[manifests]} --out {output.subset} --hidden {output.hidden}"
        " --link {params.link} {params.edition} --threads {threads} {params.job} > {log} 2>&1"
