# Config validation, the submission registry, wildcard constraints and input functions.
import copy
import json
import os
import shlex
from pathlib import Path

from snakemake.utils import validate

from viprepro.errors import UserError
from viprepro.files.fileio import canonical_digest, write_json
from viprepro.jobs.local_cores import cap_local_cores
from viprepro.jobs.provenance import code_version
from viprepro.files.schemas_io import validate as validate_options
from viprepro.specs.load import load_spec
from viprepro.tasks import configure as configure_tasks, get_task
from viprepro.tasks.base import resolve_edition

validate(config, "../config/schemas/config.schema.yaml")
try:
    configure_tasks(config)  # tasks are packages: register config-named ones, refuse unknown ones
except UserError as exc:
    raise ValueError(exc.message) from None
# Snakemake fills defaults with the schema's own (shared) objects: give each task its own copy.
config["datasets"] = {task: copy.deepcopy(dataset) for task, dataset in config["datasets"].items()}

# A local run never runs more threads at once than the machine has CPUs, whatever --cores says
# (viprepro.jobs.local_cores); cluster runs are left to the cluster's scheduler.
if _capped := cap_local_cores(workflow):
    logger.info(f"viprepro: --cores {_capped[0]} lowered to {_capped[1]}, the CPUs this machine lets the run use")

TASKS = config["tasks"]
CONFIG_HASH = canonical_digest(config)[:16]


def _check_dataset(task):
    dataset = config["datasets"][task]
    where = f"config key 'datasets.{task}'"
    try:
        dataset["edition"] = resolve_edition(get_task(task), dataset["edition"], where=f"config key 'datasets.{task}.edition'")
        if dataset["source"] == "synthetic":
            validate_options(
                dataset["synthetic"]["options"], get_task(task).schema("synthetic"), where=f"config key 'datasets.{task}.synthetic.options'"
            )
            return
        if not Path(dataset["source"]).is_dir():
            raise UserError(f"source {dataset['source']!r} is not a folder", where=where)
        if not dataset["manifests"] or not Path(dataset["manifests"]).is_dir():
            raise UserError(f"manifests {dataset['manifests']!r} must be the folder holding the official manifests", where=where)
    except UserError as exc:
        raise ValueError(exc.message) from None


# Every results path, defined once: the rules' outputs are these patterns (plus a file name),
# and the input functions below fill them in; nothing else spells a results path.
RESULTS = {
    "mlflow": "results/mlflow/mlflow.db",  # the default MLflow store (config tracking_uri: null)
    "experiments": "results/mlflow/experiments.json",  # the MLflow store is ready
    "config": "results/config.resolved.json",  # the resolved config, for the jobs that keep it
    "synthetic": "results/data/{task}/synthetic",  # source/ and manifests/ (embedded default)
    "subset": "results/data/{task}/subset",  # the public subset + subset_manifest.json
    "hidden": "results/data/{task}/hidden",  # the test ground truth (scoring only)
    "val_gt": "results/data/{task}/val_gt",  # the val ground truth (public labels), for claims on val
    "score_cache": "results/data/{task}/score_cache",  # the ground truth prepared by the scorer (test labels: as secret as hidden)
    "member": "results/{task}/{submission}/seed_{seed}/member_{member}",  # model.pt, history.json, train_record.json
    "environment": "results/{task}/{submission}/external/environment",  # an external submission's venv
    "external": "results/{task}/{submission}/seed_{seed}/external",  # its training output and record
    "seed": "results/{task}/{submission}/seed_{seed}",  # the submission file, its record, scores/
    "val": "results/{task}/{submission}/seed_{seed}/val",  # the val submission file, its record, scores/
    "verdict": "results/{task}/{submission}/verdict.json",
    "certificate": "results/{task}/{submission}/certificate",
    "leaderboard": "results/leaderboard.csv",
    "leaderboard_page": "results/leaderboard.html",
}


def result(name, *parts, wildcards=None, **values):
    """A results path: RESULTS[name] (+ parts inside it), filled in from a job's wildcards and `values`."""
    return "/".join([RESULTS[name], *parts]).format(**{**dict(wildcards.items() if wildcards else ()), **values})


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
    MLFLOW_TRACKING_URI=config["tracking_uri"] or f"sqlite:///{Path(RESULTS['mlflow']).resolve()}",
    PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"),
)


def _alternatives(names):
    return "|".join(sorted(names)) or "__none__"


def _names(kind):
    return {name for specs in SUBMISSIONS.values() for name, entry in specs.items() if entry["spec"]["kind"] == kind}


# Engine submissions train with our engine, external ones run the participant's code (rules/external.smk).
# Submission files are submission.<ext>; each task declares its own.
SUBMISSION_EXTENSIONS = _alternatives({Path(get_task(task).submission_filename).suffix[1:] for task in TASKS})
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
        return {"synthetic": result("synthetic", task=wildcards.task)}
    return {}


def source_paths(wildcards):
    dataset = config["datasets"][wildcards.task]
    if dataset["source"] == "synthetic":
        return {
            "source": result("synthetic", "source", task=wildcards.task),
            "manifests": result("synthetic", "manifests", task=wildcards.task),
        }
    return {"source": dataset["source"], "manifests": dataset["manifests"]}


def forbidden_paths(wildcards):
    """What a training job must not read: the hidden ground truth (and the scorer's prepared copy) and the original dataset."""
    return f"{result('hidden', task=wildcards.task)} {result('score_cache', task=wildcards.task)} {source_paths(wildcards)['source']}"


def get_member_checkpoints(wildcards):
    return [result("member", "model.pt", wildcards=wildcards, member=member) for member in range(spec_of(wildcards)["ensemble"])]


def submission_file(wildcards):
    return result("seed", get_task(wildcards.task).submission_filename, wildcards=wildcards)


def seeds_of(spec):
    """The claimed seed first, then the seed band: the config's seed_band.seeds, else the spec's 1 + extra_seeds."""
    count = config["seed_band"]["seeds"] or spec["extra_seeds"] + 1
    return [spec["seed"] + k for k in range(count)]


def get_seed_scores(wildcards):
    return [result("seed", "scores", wildcards=wildcards, seed=seed) for seed in seeds_of(spec_of(wildcards))]


def get_train_records(wildcards):
    spec = spec_of(wildcards)
    if spec["kind"] == "external":
        return [result("external", "train_record.json", wildcards=wildcards, seed=seed) for seed in seeds_of(spec)]
    return [
        result("member", "train_record.json", wildcards=wildcards, seed=seed, member=member)
        for seed in seeds_of(spec)
        for member in range(spec["ensemble"])
    ]


def get_predict_records(wildcards):
    name = get_task(wildcards.task).submission_filename
    return [result("seed", f"{name}.record.json", wildcards=wildcards, seed=seed) for seed in seeds_of(spec_of(wildcards))]


def val_submission_file(wildcards):
    return result("val", get_task(wildcards.task).submission_filename, wildcards=wildcards)


def claims_on_val(wildcards):
    """Only an engine submission can claim on val (spec.py refuses it for external ones)."""
    spec = spec_of(wildcards)
    return spec["kind"] == "engine" and any(c.get("split", "test") == "val" for c in spec["claimed"].values())


def get_val_seed_scores(wildcards):
    """The val score folders of every seed, for a submission that claims a metric on val."""
    if not claims_on_val(wildcards):
        return []
    return [result("val", "scores", wildcards=wildcards, seed=seed) for seed in seeds_of(spec_of(wildcards))]


def get_val_predict_records(wildcards):
    if not claims_on_val(wildcards):
        return []
    name = get_task(wildcards.task).submission_filename
    return [result("val", f"{name}.record.json", wildcards=wildcards, seed=seed) for seed in seeds_of(spec_of(wildcards))]


def get_claimed_log(wildcards):
    """The submission's own training log, when it provides one (relative to its spec)."""
    log = spec_of(wildcards)["claimed_log"]
    return [str(Path(get_spec_path(wildcards)).parent / log)] if log else []


def all_verdicts():
    return [result("verdict", task=task, submission=name) for task in TASKS for name in SUBMISSIONS[task]]


def all_certificates():
    # External submissions have verdicts, leaderboard rows and MLflow runs, but no certificate
    # yet: report/sections.py describes engine runs only (model, recipe, weights).
    return [
        result("certificate", task=task, submission=name)
        for task in TASKS
        for name, entry in SUBMISSIONS[task].items()
        if entry["spec"]["kind"] == "engine"
    ]


def get_final_output():
    return [RESULTS["leaderboard"], RESULTS["leaderboard_page"], *all_verdicts(), *all_certificates()]


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
    """The flags every job takes (viprepro.jobs.step.add_job_arguments); every job is an MLflow run."""
    return f"--rule {rule_name} --device {config['device']} --determinism {config['determinism']} --config-hash {CONFIG_HASH} --track"


def edition_flag(wildcards):
    """`--edition YEAR` for a task that ran in several editions (the config's, checked above), else nothing."""
    edition = config["datasets"][wildcards.task]["edition"]
    return "" if edition is None else f"--edition {edition}"


def prepared_gt_flag(wildcards):
    """`--prepared-gt DIR` for a task whose scorer keeps the ground truth decoded between runs, else nothing.
    Not an output: the scorer checks the copy against the ground truth's digests on every use."""
    return f"--prepared-gt {result('score_cache', task=wildcards.task)}" if get_task(wildcards.task).prepares_ground_truth else ""


def option_flags(options):
    """Options as the flags of a step (`--some-key VALUE`, `--flag` / `--no-flag`), as `viprepro <step> --help` lists them."""
    flags = []
    for key, value in sorted(options.items()):
        name = key.replace("_", "-")
        flag = f"--{name}"
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{name}")
        elif value is not None:
            flags += [flag, shlex.quote(str(value))]
    return " ".join(flags)
