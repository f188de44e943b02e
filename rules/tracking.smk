# The MLflow store is created once, before any tracked job starts: concurrent first use of
# a fresh SQLite database races on schema creation.


localrules:
    init_tracking,


rule init_tracking:
    output:
        "results/mlflow/experiments.json",
    params:
        script=script("init_tracking.py"),
        tasks=" ".join(TASKS),
    log:
        "logs/init_tracking/init_tracking.log",
    conda:
        "../envs/viprepro.yaml"
    shell:
        "python {params.script} --tasks {params.tasks} --out {output} > {log} 2>&1"
