# Set-up, once, before the jobs fan out: the MLflow store (concurrent first use of a fresh
# SQLite database races on schema creation) and the resolved config as a file (the jobs that
# keep the config read it there, never as JSON on a shell line).


localrules:
    init_tracking,
    resolved_config,


rule init_tracking:
    output:
        RESULTS["experiments"],
    log:
        "logs/init_tracking/init_tracking.log",
    conda:
        "../envs/viprepro.yaml"
    params:
        script=script("init_tracking.py"),
        tasks=" ".join(TASKS),
        job=job_options("init_tracking"),
    shell:
        "python {params.script} --tasks {params.tasks} --out {output} {params.job} > {log} 2>&1"


# Rewritten whenever the config changes (its digest is a param, and params changes rerun a job).
rule resolved_config:
    output:
        RESULTS["config"],
    log:
        "logs/resolved_config/resolved_config.log",
    params:
        config_hash=CONFIG_HASH,
    run:
        write_json(output[0], config)
        Path(log[0]).write_text(f"config {params.config_hash} -> {output[0]}\n")
