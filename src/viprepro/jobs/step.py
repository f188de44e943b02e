"""How every pipeline step runs: one parser, one start, one MLflow run, one error line.

A `Step` is a pipeline step (synth, subset, train, predict, score, verdict, ...): its own
flags and its work. `main(step)` is the only way a step runs, whether as `viprepro <step>`
or as `workflow_scripts/<step>.py` (a few lines that call it), so both take the same flags
and behave the same. It parses (a `--task` step first reads the task, which adds its own
options), prepares the process (`start`), opens the job's MLflow run before any work, runs
the step, and turns a `UserError` into one line on stderr and exit code 1; the run is then
marked FAILED with the error.

Import this before torch: `start` sets the variables CUDA and Python read at start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from viprepro.errors import UserError
from viprepro.jobs.determinism import LEVELS, apply_level, prepare_environment


def add_job_arguments(parser: argparse.ArgumentParser, *, track: bool = True) -> None:
    """The flags every job takes; the rules pass them all (rules/common.smk, `job_options`)."""
    group = parser.add_argument_group("job")
    group.add_argument("--threads", type=int, default=1, help="CPU threads for torch (the job's `threads`)")
    group.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when present")
    group.add_argument("--determinism", choices=LEVELS, default="strict", help="torch deterministic algorithms: strict, warn or off")
    group.add_argument("--rule", default="manual", help="Snakemake rule name (for the MLflow tags)")
    group.add_argument("--config-hash", default="", help="digest of the resolved pipeline config (for the MLflow tags)")
    group.add_argument(
        "--track",
        action=argparse.BooleanOptionalAction,
        default=track,
        help="record the job as an MLflow run in MLFLOW_TRACKING_URI (default: %(default)s; the pipeline always does)",
    )


def start(args: argparse.Namespace, *, uses_torch: bool = True, reexec: bool = True):
    """Prepare the process for a job and return the torch device to use.

    Jobs that never touch a model (scoring) pass `uses_torch=False` and keep torch, and its
    half a gigabyte, out of the process; they get no device. `reexec` restarts the
    interpreter once when PYTHONHASHSEED is set but not in effect (only a process started
    from the command line may do that, never one that called `main` with its own argv).
    """
    prepare_environment(args.determinism)
    if reexec and os.environ.get("PYTHONHASHSEED") and sys.flags.hash_randomization and os.environ.get("_VIPREPRO_REEXEC") is None:
        # PYTHONHASHSEED only takes effect at interpreter start: restart once with it set.
        os.environ["_VIPREPRO_REEXEC"] = "1"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # orig_argv keeps `-m module`
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not uses_torch:
        return None
    import torch

    torch.set_num_threads(max(1, args.threads))
    apply_level(args.determinism)
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def tags(args: argparse.Namespace, *, manifest_digest: str = "", extra: dict | None = None) -> dict:
    from viprepro.jobs.provenance import code_version

    code = code_version()
    return {
        "config_hash": args.config_hash,
        "code_version": code["commit"] + ("+dirty" if code["dirty"] else ""),
        "data_manifest_digest": manifest_digest,
        "determinism": args.determinism,
        **(extra or {}),
    }


@dataclass(frozen=True)
class RunInfo:
    """Who a job's MLflow run belongs to, known from the flags alone (before any work); a job
    whose task is not known yet (or that spans tasks) logs to the pipeline's experiment."""

    task: str | None
    stage: str
    submission: str = ""
    run_name: str | None = None
    tags: dict = field(default_factory=dict)


@dataclass
class Job:
    """What a step's work gets: its flags, its MLflow run (or a stand-in) and its device."""

    args: argparse.Namespace
    mlrun: Any
    device: Any = None


@dataclass(frozen=True)
class Step:
    """One pipeline step and its command: `viprepro <name>` = `workflow_scripts/<script>.py`.

    `add_arguments(parser)` adds the step's own flags; `task_arguments(parser, task)`, when
    set, the options of the task named by `--task` (the step then has `--task`, and its
    parsed flags carry those options as `args.task_options`); `run_info(args)` names the
    MLflow run; `run(job)` does the work and returns the line printed on success.
    """

    name: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Job], str | None]
    run_info: Callable[[argparse.Namespace], RunInfo]
    task_arguments: Callable[[Any, Any], None] | None = None
    uses_torch: bool = True
    tracked: bool = True  # default of --track
    epilog: str | None = None

    @property
    def prog(self) -> str:
        return f"viprepro {self.name}"


class StepParser(argparse.ArgumentParser):
    """The parser of a step; when the step takes task options, `--task` is read first and the
    task adds them, so `viprepro score --task TASK --help` lists that task's options."""

    def __init__(self, step: Step):
        super().__init__(
            prog=step.prog,
            description=step.description,
            epilog=step.epilog,
            allow_abbrev=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.step = step
        self.task_option_names: list[str] = []
        self._task_seen = step.task_arguments is None
        if step.task_arguments is not None:
            from viprepro.tasks import TASK_NAMES

            self.add_argument("--task", required=True, choices=TASK_NAMES)
        step.add_arguments(self)
        add_job_arguments(self, track=step.tracked)

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        if not self._task_seen:
            self._task_seen = True
            peek = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
            peek.add_argument("--task")
            task_name = peek.parse_known_args(args)[0].task
            from viprepro.tasks import TASK_NAMES, get_task

            if task_name in TASK_NAMES:
                self._add_task_options(get_task(task_name))
        namespace, extras = super().parse_known_args(args, namespace)
        if self.step.task_arguments is not None:
            namespace.task_options = {name: getattr(namespace, name) for name in self.task_option_names}
        return namespace, extras

    def _add_task_options(self, task) -> None:
        # The option names are learnt from a parser holding the task's options alone, so that
        # nothing here lists them (or the step's own flags) by name.
        probe = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        self.step.task_arguments(probe, task)
        _add_edition_argument(probe, task)
        self.task_option_names = list(vars(probe.parse_known_args([])[0]))
        group = self.add_argument_group(f"options of the {task.name} task")
        self.step.task_arguments(group, task)
        _add_edition_argument(group, task)


def _add_edition_argument(parser, task) -> None:
    """`--edition` for a task that ran in several editions: the data procedure and scorer of
    that year's toolkit (task.editions); it reaches the task as `options["edition"]`."""
    if task.editions:
        parser.add_argument(
            "--edition",
            choices=sorted(task.editions),
            default=task.default_edition,
            help=f"the challenge edition whose official procedure is followed (default: {task.default_edition}); "
            + ", ".join(f"{name} = toolkit {commit[:7]}" for name, commit in sorted(task.editions.items())),
        )


class _Untracked:
    """Stands in for the MLflow run of a job run with --no-track: every call does nothing."""

    run_id = None

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def _job_run(step: Step, args: argparse.Namespace):
    # Launched by torchrun, every rank runs the step; the MLflow run belongs to rank 0 alone.
    if not args.track or os.environ.get("RANK", "0") != "0":
        yield _Untracked()
        return
    from viprepro.jobs import tracking

    info = step.run_info(args)
    with tracking.job_run(
        task=info.task or tracking.PIPELINE,
        stage=info.stage,
        rule=args.rule,
        submission=info.submission,
        tags=tags(args, extra=info.tags),
        run_name=info.run_name,
    ) as mlrun:
        yield mlrun


def execute(step: Step, args: argparse.Namespace, *, reexec: bool = False) -> int:
    """Run a parsed step: the run opens before any work, so a job that fails leaves a FAILED
    run with its error; a `UserError` is one line on stderr and exit code 1."""
    try:
        device = start(args, uses_torch=step.uses_torch, reexec=reexec)
        with _job_run(step, args) as mlrun:
            summary = step.run(Job(args, mlrun, device))
    except UserError as exc:
        print(f"{step.prog}: error: {exc.message}", file=sys.stderr)
        return 1
    if summary:
        print(summary)
    return 0


def main(step: Step, argv: list[str] | None = None, *, reexec: bool | None = None) -> int:
    """Parse and run a step; `argv` None means this process's own command line (which alone
    may be restarted for PYTHONHASHSEED, see `start`)."""
    args = StepParser(step).parse_args(argv)
    return execute(step, args, reexec=argv is None if reexec is None else reexec)


def script(step: Step):
    """`get_args_parser` and `main` of a workflow script: the step's parser and its runner."""

    def get_args_parser() -> StepParser:
        return StepParser(step)

    def script_main(args: argparse.Namespace | None = None) -> int:
        if args is None:
            return main(step)
        return execute(step, args)

    return get_args_parser, script_main
