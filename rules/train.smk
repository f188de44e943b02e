# Training: one chain per (submission, seed, ensemble member), from scratch.
# A member spans several processes when config `distributed` asks (torchrun; see viprepro.training.distributed).

from viprepro.specs.stages import stages_of
from viprepro.training.distributed import launch_prefix, per_rank_batch, slurm_resources

# Multi-stage specs train stage by stage (rules/stages.smk); train_member trains the others.
_MULTISTAGE = {name for specs in SUBMISSIONS.values() for name, entry in specs.items() if stages_of(entry["spec"])}
MULTISTAGE_SUBMISSIONS = _alternatives(_MULTISTAGE)
SINGLE_STAGE_SUBMISSIONS = _alternatives(_names("engine") - _MULTISTAGE)

DISTRIBUTED = config["distributed"]
if DISTRIBUTED["nproc_per_node"] * DISTRIBUTED["nnodes"] > 1:  # refuse a global batch the world size does not divide, now
    for _specs in SUBMISSIONS.values():
        for _entry in _specs.values():
            if _entry["spec"]["kind"] == "engine":
                per_rank_batch(_entry["spec"]["recipe"], DISTRIBUTED["nproc_per_node"] * DISTRIBUTED["nnodes"], spec_path=_entry["path"])


rule train_member:
    input:
        spec=get_spec_path,
        subset=rules.subset_dataset.output.subset,
        tracking=rules.init_tracking.output,
    output:
        model=f"{RESULTS['member']}/model.pt",
        history=f"{RESULTS['member']}/history.json",
        record=f"{RESULTS['member']}/train_record.json",
    log:
        "logs/train_member/{task}/{submission}/seed_{seed}/member_{member}.log",
    benchmark:
        "results/benchmarks/train_member/{task}/{submission}/seed_{seed}/member_{member}.tsv"
    wildcard_constraints:
        submission=SINGLE_STAGE_SUBMISSIONS,
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
        forbid=forbidden_paths,
        state_dir=lambda w: result("member", "state", wildcards=w),
        workers=config["data_workers"],
        launcher=lambda w, threads: launch_prefix(
            DISTRIBUTED, cpus_per_task=threads, gpus_per_task=DISTRIBUTED["nproc_per_node"] if config["device"] == "cuda" else 0
        ),
        job=job_options("train_member"),
    shell:
        "{params.launcher} {params.script} --task {wildcards.task} --spec {input.spec} --subset {input.subset} --seed {wildcards.seed}"
        " --member {wildcards.member} --out {output.model} --history {output.history} --record {output.record}"
        " --state-dir {params.state_dir} --forbid {params.forbid}"
        " --workers {params.workers} --threads {threads} {params.job} > {log} 2>&1"
