# Multi-stage specs (rules/stages.smk): the stage paths, the stage kinds of the config, input functions.
from viprepro.specs.stages import inputs_of, stage_named

# model.pt, history.json, train_record.json (+ backbones/, probe.json) of one stage of one member
RESULTS["stage"] = "results/{task}/{submission}/seed_{seed}/member_{member}/stage_{stage}"

# A stage's job is chosen by its name: one name, one kind, across the config's submissions.
STAGE_KINDS = {}
for _specs in SUBMISSIONS.values():
    for _entry in _specs.values():
        for _stage in stages_of(_entry["spec"]) or []:
            _kind = STAGE_KINDS.setdefault(_stage["name"], _stage["kind"])
            if _kind != _stage["kind"]:
                raise ValueError(
                    f"{_entry['path']}: stage {_stage['name']!r} is a {_stage['kind']} stage here and a {_kind} stage in another "
                    "submission of this config: a stage's job is picked by its name, rename one"
                )


def stage_names(kind):
    return _alternatives({name for name, known in STAGE_KINDS.items() if known == kind})


def stage_inputs(wildcards):
    """The final checkpoints of the earlier stages this stage names (their records lie beside them)."""
    stage = stage_named(spec_of(wildcards), wildcards.stage)
    return {f"input_{name}": result("stage", "model.pt", wildcards=wildcards, stage=name) for _, name in inputs_of(stage)}


def stage_input_flags(wildcards):
    """One --input per earlier stage named (a stage both `init` and `pseudo_label.from` is given once)."""
    return " ".join(f"--input {name[len('input_'):]}={path}" for name, path in stage_inputs(wildcards).items())


def last_stage_dir(wildcards):
    return result("stage", wildcards=wildcards, stage=spec_of(wildcards)["stages"][-1]["name"])


def member_probes(wildcards):
    return [
        result("stage", "probe.json", wildcards=wildcards, stage=stage["name"])
        for stage in spec_of(wildcards)["stages"]
        if stage["kind"] == "pretext"
    ]


for _task, _specs in SUBMISSIONS.items():  # an ablation names a submission of the same task in this config
    for _name, _entry in _specs.items():
        _ablation = _entry["spec"].get("ablation")
        if _ablation is not None and _ablation not in _specs:
            raise ValueError(f"{_entry['path']}: ablation {_ablation!r} is not a {_task} submission of this config (key 'ablation')")


def get_ablation_verdict(wildcards):
    """The verdict of the submission a multi-stage spec names as its ablation (for the certificate)."""
    ablation = spec_of(wildcards).get("ablation")
    return [result("verdict", task=wildcards.task, submission=ablation)] if ablation else []
