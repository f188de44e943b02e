# Config validation, the submission registry, wildcard constraints and input functions.
import copy
import json
import os
from pathlib import Path

from snakemake.utils import validate

from viprepro.errors import UserError
from viprepro.fileio import canonical_digest
from viprepro.local_cores import cap_local_cores
from viprepro.provenance import code_version
from viprepro.schemas_io import validate as validate_options
from viprepro.spec import load_spec
from viprepro.tasks import SUBMISSION_FILES

validate(config, "../config/schemas/config.schema.yaml")
# Snakemake fills defaults with the schema's own (shared) objects: give each task its own copy.
config["datasets"] = {task: copy.deepcopy(dataset) for task, dataset in config["datasets"].items()}

# A local run never runs more threads at once than the machine has CPUs, whatever --cores says
# (viprepro.local_cores); cluster runs are left to the cluster's scheduler.
if _capped := cap_local_cores(workflow):
    logger.info(f"viprepro: --cores {_capped[0]} lowered to {_capped[1]}, the CPUs this machine lets the run use")

TASKS = config["tasks"]
CONFIG_HASH = canonical_digest(config)[:16]


def _check_dataset(task):
    dataset = config["datasets"][task]
    where = f"config key 'datasets.{task}'"
    try:
        if dataset["source"] == "synthetic":
            validate_options(dataset["synthetic"]["options"], f"synthetic.{task}.schema.yaml", where=f"config key 'datasets.{task}.synthetic.options'")
            return
        if not Path(dataset["source"]).is_dir():
            raise UserError(f"source {dataset['source']!r} is not a folder", where=where)
        if not dataset["manifests"] or not Path(dataset["manifests"]).is_dir():
            raise UserError(f"manifests {dataset['manifests']!r} must be the folder holding the official manifests", where=where)
    except UserError as exc:
        raise ValueError(exc.message) from None


WORKFLOW_DIR = Path(workflow.basedir)
SCRIPTS = WORKFLOW_DIR / "workflow_scripts"


def _spec_path(path):
    """Spec paths are relative to the workflow folder (absolute ones are kept)."""
    return str(path if Path(path).is_absolute() else WORKFLOW_DIR / path)


def _load_submissions(task):
    specs = {}
    for path in map(_spec_path, config["datasets"][task]["submissions"]):
        try:
            spec = load_spec(path)
        except UserError as exc:
            raise ValueError(exc.message) from None
        if spec["task"] != task:
            raise ValueError(f"{path}: a {spec['task']} submission listed under datasets.{task}.submissions")
        if spec["name"] in specs:
            raise ValueError(f"{path}: submission name {spec['name']!r} is used twice in task {task}")
        specs[spec["name"]] = {"path": path, "spec": spec}
    return specs


for _task in TASKS:
    _check_dataset(_task)

CODE_VERSION = code_version(str(WORKFLOW_DIR))
if config["reproduction"]["official"] and CODE_VERSION["dirty"] and not config["reproduction"]["allow_dirty"]:
    raise ValueError(
        f"official reproduction from a git tree with uncommitted changes ({WORKFLOW_DIR}): commit them, "
        "or set reproduction.allow_dirty: true (recorded in every verdict)"
    )
SUBMISSIONS = {task: _load_submissions(task) for task in TASKS}

# Jobs inherit these: the tracking URI never enters a rule's params.
os.environ.update(
    MLFLOW_TRACKING_URI=config["tracking_uri"] or f"sqlite:///{Path('results/mlflow/mlflow.db').resolve()}",
    PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"),
)


def _alternatives(names):
    return "|".join(sorted(names)) or "__none__"


def _names(kind):
    return {name for specs in SUBMISSIONS.values() for name, entry in specs.items() if entry["spec"]["kind"] == kind}


# Engine submissions train with our engine, external ones run the participant's code (rules/external.smk).
ENGINE_SUBMISSIONS = _alternatives(_names("engine"))
EXTERNAL_SUBMISSIONS = _alternatives(_names("external"))


wildcard_constraints:
    task=_alternatives(TASKS),
    submission=_alternatives({name for specs in SUBMISSIONS.values() for name in specs}),
    seed=r"\d+",
    member=r"\d+",


def spec_of(wildcards):
    return SUBMISSIONS[wildcards.task][wildcards.submission]["spec"]


def get_spec_path(wildcards):
    return SUBMISSIONS[wildcards.task][wildcards.submission]["path"]


def get_dataset_source(wildcards):
    """Synthesised data is a rule's output; a real dataset is a configured path (not tracked)."""
    dataset = config["datasets"][wildcards.task]
    if dataset["source"] == "synthetic":
        return {"synthetic": f"results/data/{wildcards.task}/synthetic"}
    return {}


def source_paths(wildcards):
    dataset = config["datasets"][wildcards.task]
    if dataset["source"] == "synthetic":
        root = f"results/data/{wildcards.task}/synthetic"
        return {"source": f"{root}/source", "manifests": f"{root}/manifests"}
    return {"source": dataset["source"], "manifests": dataset["manifests"]}


def forbidden_paths(wildcards):
    """What a training job must not read: the hidden ground truth and the original dataset."""
    return f"results/data/{wildcards.task}/hidden {source_paths(wildcards)['source']}"


def get_member_checkpoints(wildcards):
    members = range(spec_of(wildcards)["ensemble"])
    return expand("results/{{task}}/{{submission}}/seed_{{seed}}/member_{member}/model.pt", member=members)


def submission_file(wildcards):
    return f"results/{wildcards.task}/{wildcards.submission}/seed_{wildcards.seed}/{SUBMISSION_FILES[wildcards.task]}"


def seeds_of(spec):
    """The claimed seed first, then the seed band: the config's seed_band.seeds, else the spec's 1 + extra_seeds."""
    count = config["seed_band"]["seeds"] or spec["extra_seeds"] + 1
    return [spec["seed"] + k for k in range(count)]


def get_seed_scores(wildcards):
    return [f"results/{wildcards.task}/{wildcards.submission}/seed_{seed}/scores" for seed in seeds_of(spec_of(wildcards))]


def get_train_records(wildcards):
    spec = spec_of(wildcards)
    if spec["kind"] == "external":
        return [f"results/{wildcards.task}/{wildcards.submission}/seed_{seed}/external/train_record.json" for seed in seeds_of(spec)]
    return [
        f"results/{wildcards.task}/{wildcards.submission}/seed_{seed}/member_{member}/train_record.json"
        for seed in seeds_of(spec)
        for member in range(spec["ensemble"])
    ]


def get_predict_records(wildcards):
    name = SUBMISSION_FILES[wildcards.task]
    return [f"results/{wildcards.task}/{wildcards.submission}/seed_{seed}/{name}.record.json" for seed in seeds_of(spec_of(wildcards))]


def get_claimed_log(wildcards):
    """The submission's own training log, when it provides one (relative to its spec)."""
    log = spec_of(wildcards)["claimed_log"]
    return [str(Path(get_spec_path(wildcards)).parent / log)] if log else []


def all_verdicts():
    return [f"results/{task}/{name}/verdict.json" for task in TASKS for name in SUBMISSIONS[task]]


def all_certificates():
    # External submissions have verdicts, leaderboard rows and MLflow runs, but no certificate
    # yet: report/sections.py describes engine runs only (model, recipe, weights).
    return [f"results/{task}/{name}/certificate" for task in TASKS for name, entry in SUBMISSIONS[task].items()
            if entry["spec"]["kind"] == "engine"]


def get_final_output():
    return ["results/leaderboard.csv", "results/leaderboard.html", *all_verdicts(), *all_certificates()]


def script(name):
    return str(SCRIPTS / name)


def external_limit(wildcards, key):
    """Threads, memory (MB) and time (minutes) of an external submission's sandboxed steps."""
    limits = spec_of(wildcards)["external"]["limits"]
    if key == "threads":
        return limits["threads"]
    if key == "memory_mb":
        return limits["memory_mb"] + 500  # the sandbox's limit plus our own process around it
    return int(limits[key]) + 5


def job_options(rule_name):
    """The command-line options every tracked job takes (see viprepro.jobs)."""
    return f"--rule {rule_name} --device {config['device']} --determinism {config['determinism']} --config-hash {CONFIG_HASH}"
