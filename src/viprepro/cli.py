"""The `viprepro` command: every pipeline step (synth, subset, train, predict, score, verdict, ...)
plus validate, explain, rerun, models and spec.

A pipeline step here is the same `viprepro.jobs.step.Step` as the rule's `workflow_scripts/<step>.py`:
one implementation, one set of flags (`viprepro <step> --help`). Steps that take `--task`
read it first, and the task adds its own options, so `viprepro synth --task TASK --help`
lists that task's generator options.
"""

from __future__ import annotations

import importlib
import sys

from viprepro.steps import STEPS

# Commands that are not pipeline steps: module[:function] called with the remaining arguments.
OTHER_COMMANDS = {
    "explain": "viprepro.report.explain",
    "rerun": "viprepro.report.rerun",
    "models": "viprepro.specs.commands:models_main",
    "spec": "viprepro.specs.commands:spec_main",
    "estimate": "viprepro.training.estimate",
}


def usage() -> str:
    steps = ",".join(name for name in STEPS if not isinstance(STEPS[name], dict))
    groups = "".join(f"\n       viprepro {name} {{{','.join(subs)}}} ..." for name, subs in STEPS.items() if isinstance(subs, dict))
    return (
        f"usage: viprepro {{{steps}}} ...  (viprepro COMMAND [--task TASK] --help for its options)"
        f"{groups}\n       viprepro {{{','.join(OTHER_COMMANDS)}}} ..."
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; `argv` None means this process's own command line."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else None
    if command in OTHER_COMMANDS:
        module, _, function = OTHER_COMMANDS[command].partition(":")
        return getattr(importlib.import_module(module), function or "main")(argv[1:])
    if command not in STEPS:
        asked = command in ("-h", "--help")
        print(usage(), file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    from viprepro.jobs import step as jobs
    from viprepro.steps import get_step

    rest = argv[1:]
    if isinstance(STEPS[command], dict):  # a group: the step's name is the next word
        if not rest or rest[0] not in STEPS[command]:
            asked = bool(rest) and rest[0] in ("-h", "--help")
            print(
                f"usage: viprepro {command} {{{','.join(STEPS[command])}}} ... (--help for each one's options)",
                file=sys.stdout if asked else sys.stderr,
            )
            return 0 if asked else 2
        step, rest = get_step(command, rest[0]), rest[1:]
    else:
        step = get_step(command)
    return jobs.main(step, rest, reexec=from_command_line)


if __name__ == "__main__":
    sys.exit(main())
