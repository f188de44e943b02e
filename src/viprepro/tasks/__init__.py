"""The registry of challenge tasks: a task is one package exposing `TASK` (a `base.Task`).

Tasks are found, not listed: every sub-package of `viprepro.tasks`, every entry point of the
group `viprepro.tasks`, and every package a configuration names (`datasets.<task>.package`
in config/config.yaml, which the workflow passes to its jobs in the environment variable
`VIPREPRO_TASK_PACKAGES`, a JSON object task -> module). A task's package imports no torch:
what it declares (metrics, submission file, schemas, figures) is read in milliseconds, and
its heavy modules load when a method needs them.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from functools import cache, lru_cache

from viprepro.errors import UserError

PACKAGES_ENV = "VIPREPRO_TASK_PACKAGES"
ENTRY_POINT_GROUP = "viprepro.tasks"

_registered: dict[str, str] = {}


@lru_cache(maxsize=1)
def _own() -> dict[str, str]:
    return {m.name: f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.ispkg}


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _from_environment() -> dict[str, str]:
    text = os.environ.get(PACKAGES_ENV, "")
    if not text:
        return {}
    try:
        packages = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"not a JSON object of task -> module: {exc}", where=f"environment variable {PACKAGES_ENV}") from None
    if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
        raise UserError("must be a JSON object of task -> module", where=f"environment variable {PACKAGES_ENV}")
    return packages


def packages() -> dict[str, str]:
    """Every known task and the module it lives in (later sources override earlier ones)."""
    return {**_entry_points(), **_own(), **_from_environment(), **_registered}


def _module_of(name: str) -> str | None:
    """`packages()[name]` without reading the installed distributions unless needed."""
    for source in (_registered, _from_environment(), _own()):
        if name in source:
            return source[name]
    return _entry_points().get(name)


def task_names() -> tuple[str, ...]:
    return tuple(sorted(packages()))


def register(name: str, module: str, *, export: bool = False) -> None:
    """Make a task living outside this package known (a config's `datasets.<task>.package`).

    `export` also writes it into `VIPREPRO_TASK_PACKAGES`, so child processes (the
    workflow's jobs) find it too."""
    _registered[name] = module
    get_task.cache_clear()
    if export:
        os.environ[PACKAGES_ENV] = json.dumps({**_from_environment(), name: module}, sort_keys=True)


@cache
def get_task(name: str):
    """The task object of `name` (its package is torch-free: this is cheap)."""
    module_name = _module_of(name)
    if module_name is None:
        raise UserError(
            f"unknown task {name!r} (known: {', '.join(task_names())}; a task outside viprepro "
            f"needs `datasets.{name}.package` in the config)"
        )
    task = getattr(importlib.import_module(module_name), "TASK", None)
    if task is None or getattr(task, "name", None) != name:
        raise UserError(f"module {module_name!r} has no TASK named {name!r}", where=f"task {name}")
    return task


def configure(config: dict) -> None:
    """Make a pipeline config's tasks known, in place: register (and export to the jobs) each
    `datasets.<task>.package`, refuse an unknown task in `tasks` or `datasets`, and give each
    task of `tasks` its dataset entry with the schema's defaults."""
    from viprepro.files.schemas_io import validate

    datasets = config.setdefault("datasets", {})
    for name, dataset in sorted(datasets.items()):
        if dataset.get("package"):
            register(name, dataset["package"], export=True)
        elif _module_of(name) is None:
            raise UserError(
                f"unknown task {name!r} (known: {', '.join(task_names())}; a task outside viprepro needs a `package`)",
                where=f"config key 'datasets.{name}'",
            )
    for name in config.get("tasks", []):
        if _module_of(name) is None:
            raise UserError(
                f"unknown task {name!r} (known: {', '.join(task_names())}; a task outside viprepro needs `datasets.{name}.package`)",
                where="config key 'tasks'",
            )
        get_task(name)  # its package imports and declares TASK
        wrapper = {"datasets": {name: datasets.get(name, {})}}
        validate(wrapper, "config.schema.yaml", where="config")  # fills the dataset's defaults
        datasets[name] = wrapper["datasets"][name]


def __getattr__(attribute: str):
    if attribute == "TASK_NAMES":  # computed when asked: a registered or configured task counts
        return task_names()
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
