"""MLflow tracking: one run per pipeline job, safe when many jobs log at once.

The store is created once (`init_store`, the pipeline's first job) because concurrent first
use of a fresh SQLite database races on schema creation. Every call that writes goes through
`_retry`, since SQLite allows one writer at a time and a busy database answers "locked".
The tracking URI comes from MLFLOW_TRACKING_URI (set by the Snakefile from the config), so it
never appears in a rule's params.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_STORE = Path("results") / "mlflow"
EXPERIMENT_PREFIX = "viprepro"
RETRY_SECONDS = 120
PIPELINE = "pipeline"  # the experiment of jobs that span tasks (the leaderboard)


def default_uri(root: str | Path = DEFAULT_STORE) -> str:
    return f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_uri()


def artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store live beside the database; a server decides for itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "artifacts").resolve().as_uri()
    return None


def experiment_name(task: str) -> str:
    return f"{EXPERIMENT_PREFIX}-{task}"


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _client():
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    _quiet_mlflow()  # importing mlflow sets its loggers' levels again
    return MlflowClient(tracking_uri=tracking_uri())


def _retry(call: Callable, *args, **kwargs):
    """Retry a store call while the database is busy (bounded, with jittered back-off)."""
    started = time.monotonic()
    deadline = started + RETRY_SECONDS
    delay = 0.05
    retries = 0
    while True:
        try:
            result = call(*args, **kwargs)
        except Exception as exc:  # MlflowException wraps sqlite3.OperationalError
            text = str(exc).lower()
            transient = "locked" in text or "busy" in text or "unable to open database" in text
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
            retries += 1
            continue
        if retries:  # a job waiting on the store is time lost: say so in the job's log
            log.warning(
                "MLflow store busy: %s waited %.2f s (%d retries)", getattr(call, "__name__", "call"), time.monotonic() - started, retries
            )
        return result


def init_store(tasks: list[str]) -> dict[str, str]:
    """Create the store and one experiment per task; returns {task: experiment id}."""
    uri = tracking_uri()
    _make_store_folder(uri)
    client = _client()
    ids = {}
    for task in [*tasks, PIPELINE]:
        ids[task] = _ensure_experiment(client, task, uri)
    return ids


def _make_store_folder(uri: str) -> None:
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def _ensure_experiment(client, task: str, uri: str) -> str:
    name = experiment_name(task)
    existing = _retry(client.get_experiment_by_name, name)
    if existing is not None:
        return existing.experiment_id
    root = artifact_root(uri)
    location = f"{root}/{task}" if root else None
    try:
        return _retry(client.create_experiment, name, artifact_location=location)
    except Exception:
        existing = _retry(client.get_experiment_by_name, name)
        if existing is None:
            raise
        return existing.experiment_id


@dataclass
class JobRun:
    """Handle of the MLflow run of one job; every write is retried when the store is busy."""

    client: object
    run_id: str

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
        for start in range(0, len(items), 100):
            _retry(self.client.log_batch, self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        # NaN and infinities are recorded as such (MLflow keeps them): a score that could not be
        # computed must show up in the run, not vanish from it.
        items = [Metric(k, float(v), now, step or 0) for k, v in flatten(metrics).items() if _is_number(v)]
        for start in range(0, len(items), 500):
            _retry(self.client.log_batch, self.run_id, metrics=items[start : start + 500])

    def set_tags(self, tags: dict) -> None:
        from mlflow.entities import RunTag

        _retry(self.client.log_batch, self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_dict(self, data: dict, artifact_file: str) -> None:
        _retry(self.client.log_dict, self.run_id, data, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        _retry(self.client.log_artifact, self.run_id, str(path), artifact_path)


@contextlib.contextmanager
def job_run(
    *, task: str, stage: str, rule: str, submission: str = "", tags: dict | None = None, run_name: str | None = None
) -> Iterator[JobRun]:
    """One MLflow run around a job; marked FAILED (and the error kept) when the job raises."""
    _make_store_folder(tracking_uri())
    client = _client()
    experiment_id = _ensure_experiment(client, task, tracking_uri())
    all_tags = {"task": task, "stage": stage, "rule": rule, "submission": submission, **(tags or {})}
    run = _retry(
        client.create_run,
        experiment_id,
        tags={k: str(v) for k, v in all_tags.items()},
        run_name=run_name or "/".join(p for p in (stage, submission) if p),
    )
    handle = JobRun(client, run.info.run_id)
    try:
        yield handle
    except BaseException as exc:
        with contextlib.suppress(Exception):
            handle.set_tags({"error": f"{type(exc).__name__}: {exc}"[:5000]})
            _retry(client.set_terminated, handle.run_id, "FAILED")
        raise
    _retry(client.set_terminated, handle.run_id, "FINISHED")


def flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def member_run(*, task: str, submission: str, seed: int, member: int, config_hash: str) -> str:
    """The run id of one ensemble member of a multi-stage submission, the parent of its stage jobs' runs.

    Found by its tags, created (FINISHED at once: it holds no work of its own) when absent. The
    stages of one member run in sequence, so two jobs never create it at the same time."""
    client = _client()
    experiment_id = _ensure_experiment(client, task, tracking_uri())
    tags = {"stage": "member", "submission": submission, "seed": str(seed), "member": str(member), "config_hash": config_hash}
    query = " and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
    found = _retry(client.search_runs, [experiment_id], filter_string=query, max_results=1)
    if found:
        return found[0].info.run_id
    run = _retry(client.create_run, experiment_id, tags={"task": task, **tags}, run_name=f"member/{submission}/seed_{seed}/member_{member}")
    _retry(client.set_terminated, run.info.run_id, "FINISHED")
    return run.info.run_id
