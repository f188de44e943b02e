# Multi-stage specs (issue 14, docs/stages.md): one job per stage and member, chained through
# the stages' outputs under member_<m>/stage_<name>/; the last stage's output becomes the
# member's model.pt (collect_member), where prediction reads it. Each stage job is its own
# MLflow run nested under one run per member (viprepro.steps.stage_record). Paths and input
# functions: rules/stages_common.smk.

STAGE_SHELL = (
    "{params.launcher} {params.script} --task {wildcards.task} --spec {input.spec} --subset {input.subset} --seed {wildcards.seed}"
    " --member {wildcards.member} --stage {wildcards.stage} {params.inputs} {params.stage_outputs} --out {output.model}"
    " --history {output.history} --record {output.record} --state-dir {params.state_dir} --forbid {params.forbid}"
    " --workers {params.workers} --threads {threads} {params.job} > {log} 2>&1"
)


rule pretrain_member:
    input:
        unpack(stage_inputs),
        spec=get_spec_path,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    output:
        model=f"{RESULTS['stage']}/model.pt",
        history=f"{RESULTS['stage']}/history.json",
        record=f"{RESULTS['stage']}/train_record.json",
        backbones=directory(f"{RESULTS['stage']}/backbones"),
    log:
        "logs/pretrain_member/{task}/{submission}/seed_{seed}/member_{member}/stage_{stage}.log",
    benchmark:
        "results/benchmarks/pretrain_member/{task}/{submission}/seed_{seed}/member_{member}/stage_{stage}.tsv"
    wildcard_constraints:
        submission=MULTISTAGE_SUBMISSIONS,
        stage=stage_names("pretext"),
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        **slurm_resources(DISTRIBUTED),
        mem_mb=4000,
        runtime=24 * 60,
        gpu=lambda w: DISTRIBUTED["nproc_per_node"] * DISTRIBUTED["nnodes"] if config["device"] == "cuda" else 0,
    params:
        script=script("train.py"),
        # a pretext stage spans the processes config `distributed` asks for, like train_member
        launcher=lambda w, threads: launch_prefix(
            DISTRIBUTED, cpus_per_task=threads, gpus_per_task=DISTRIBUTED["nproc_per_node"] if config["device"] == "cuda" else 0
        ),
        inputs=stage_input_flags,
        stage_outputs=lambda w, output: f"--backbones {output.backbones}",
        forbid=forbidden_paths,
        state_dir=lambda w: result("stage", "state", wildcards=w),
        workers=config["data_workers"],
        job=job_options("pretrain_member"),
    shell:
        STAGE_SHELL


# A pseudo_label stage also writes the labelled set it trained on (every prediction, its confidence, kept or not).
STAGE_OUTPUTS = {
    "model": f"{RESULTS['stage']}/model.pt",
    "history": f"{RESULTS['stage']}/history.json",
    "record": f"{RESULTS['stage']}/train_record.json",
}
PSEUDO_LABELS = f"{RESULTS['stage']}/pseudo_labels.json"

for _kind, _rule in (("supervised", "train_stage_member"), ("distill", "distill_member"), ("pseudo_label", "pseudo_label_member")):

    rule:
        name:
            _rule
        input:
            unpack(stage_inputs),
            spec=get_spec_path,
            subset=rules.subset_dataset.output.subset,
            tracking=rules.init_tracking.output,
        output:
            **STAGE_OUTPUTS,
            **({"pseudo_labels": PSEUDO_LABELS} if _kind == "pseudo_label" else {}),
        log:
            f"logs/{_rule}/{{task}}/{{submission}}/seed_{{seed}}/member_{{member}}/stage_{{stage}}.log",
        benchmark:
            f"results/benchmarks/{_rule}/{{task}}/{{submission}}/seed_{{seed}}/member_{{member}}/stage_{{stage}}.tsv"
        wildcard_constraints:
            submission=MULTISTAGE_SUBMISSIONS,
            stage=stage_names(_kind),
        conda:
            "../envs/viprepro.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=24 * 60,
            gpu=lambda w: 1 if config["device"] == "cuda" else 0,
        params:
            script=script("train.py"),
            launcher="python",
            inputs=stage_input_flags,
            stage_outputs=(lambda w, output: f"--pseudo-labels {output.pseudo_labels}") if _kind == "pseudo_label" else "",
            forbid=forbidden_paths,
            state_dir=lambda w: result("stage", "state", wildcards=w),
            workers=config["data_workers"],
            job=job_options(_rule),
        shell:
            STAGE_SHELL


rule probe_member:
    input:
        spec=get_spec_path,
        subset=rules.subset_dataset.output.subset,
        backbones=rules.pretrain_member.output.backbones,
        tracking=rules.init_tracking.output,
    output:
        f"{RESULTS['stage']}/probe.json",
    log:
        "logs/probe_member/{task}/{submission}/seed_{seed}/member_{member}/stage_{stage}.log",
    benchmark:
        "results/benchmarks/probe_member/{task}/{submission}/seed_{seed}/member_{member}/stage_{stage}.tsv"
    wildcard_constraints:
        submission=MULTISTAGE_SUBMISSIONS,
        stage=stage_names("pretext"),
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=6 * 60,
        gpu=lambda w: 1 if config["device"] == "cuda" else 0,
    params:
        script=script("probe.py"),
        workers=config["data_workers"],
        job=job_options("probe_member"),
    shell:
        "python {params.script} --task {wildcards.task} --spec {input.spec} --subset {input.subset} --stage {wildcards.stage}"
        " --backbones {input.backbones} --seed {wildcards.seed} --member {wildcards.member} --out {output}"
        " --workers {params.workers} --threads {threads} {params.job} > {log} 2>&1"


rule collect_member:
    input:
        last=lambda w: [f"{last_stage_dir(w)}/{name}" for name in ("model.pt", "history.json", "train_record.json")],
        probes=member_probes,
    output:
        model=f"{RESULTS['member']}/model.pt",
        history=f"{RESULTS['member']}/history.json",
        record=f"{RESULTS['member']}/train_record.json",
    log:
        "logs/collect_member/{task}/{submission}/seed_{seed}/member_{member}.log",
    wildcard_constraints:
        submission=MULTISTAGE_SUBMISSIONS,
    conda:
        "../envs/viprepro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("collect_member.py"),
        stage_dir=last_stage_dir,
        job=job_options("collect_member"),
    shell:
        "python {params.script} --task {wildcards.task} --stage-dir {params.stage_dir} --probes {input.probes} --out {output.model}"
        " {params.job} > {log} 2>&1"
