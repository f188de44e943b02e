"""The `viprepro` command: synth, subset, validate, score, rerun (and the pipeline's helpers).

Two-stage parsing: `--task` is read first, then the task adds its own options, so
`viprepro synth --task detection --help` lists the detection generator's options.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import UserError, ValidationFailed

COMMANDS = ("synth", "subset", "validate", "score", "rerun")
EXTRA_COMMANDS = {"explain": "viprepro.explain", "models": "viprepro.recipe_cli:models_main", "spec": "viprepro.recipe_cli:spec_main",
                  "estimate": "viprepro.estimate"}


def _base_parser(command: str, *, add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"viprepro {command}", add_help=add_help)
    from .tasks import TASK_NAMES

    parser.add_argument("--task", required=True, choices=TASK_NAMES)
    return parser


def _add_schema_options(parser: argparse.ArgumentParser, schema_name: str) -> list[str]:
    """One --option per property of a flat schema; returns the property names."""
    from .schemas_io import load_schema

    kinds = {"integer": int, "number": float, "string": str}
    names = []
    for key, prop in load_schema(schema_name).get("properties", {}).items():
        kind = prop.get("type")
        flag = "--" + key.replace("_", "-")
        if kind == "boolean":
            parser.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=prop.get("default"), help=prop.get("description"))
        else:
            parser.add_argument(flag, dest=key, type=kinds.get(kind, str), default=prop.get("default"), help=prop.get("description"))
        names.append(key)
    return names


def _parse(command: str, argv: list[str]):
    first = _base_parser(command, add_help=False)
    known, _ = first.parse_known_args(argv)
    from .tasks import get_task

    task = get_task(known.task) if known.task else None
    parser = _base_parser(command)
    option_names: list[str] = []
    if command == "synth":
        parser.add_argument("--out", required=True, type=Path, help="folder to create (source/ and manifests/ inside)")
        parser.add_argument("--seed", type=int, default=0)
        option_names = _add_schema_options(parser, f"synthetic.{known.task}.schema.yaml")
    elif command == "subset":
        parser.add_argument("--source", required=True, type=Path, help="root of the original dataset (read only)")
        parser.add_argument("--manifests", required=True, type=Path, help="folder holding the official manifests")
        parser.add_argument("--out", required=True, type=Path, help="the subset folder to create")
        parser.add_argument("--hidden", type=Path, default=None, help="where the test ground truth goes (default: OUT.hidden)")
        parser.add_argument("--link", choices=("hardlink", "symlink", "copy"), default="hardlink")
        task.add_subset_arguments(parser)
    else:
        parser.add_argument("--gt", required=True, type=Path, help="ground truth in the form the official grader reads")
        parser.add_argument("--submission", required=True, type=Path)
        if command == "score":
            parser.add_argument("--out", required=True, type=Path, help="folder for the official text file and scores.json")
            parser.add_argument("--mode", choices=("official", "strict"), default="strict")
        task.add_score_arguments(parser)
    args = parser.parse_args(argv)
    return task, args, option_names


def run(command: str, argv: list[str]) -> int:
    task, args, option_names = _parse(command, argv)
    options = {k: v for k, v in vars(args).items() if k not in {"task", "out", "seed", "source", "manifests", "hidden", "link", "gt", "submission", "mode"}}
    if command == "synth":
        from .schemas_io import validate

        synth_options = {k: getattr(args, k) for k in option_names}
        validate(synth_options, f"synthetic.{args.task}.schema.yaml", where="synthetic options")
        result = task.synthesize(args.out, seed=args.seed, options=synth_options)
        print(f"synthetic {args.task} dataset: source {result['source']}, manifests {result['manifests']}")
    elif command == "subset":
        hidden = args.hidden or args.out.with_name(args.out.name + ".hidden")
        result = task.subset(args.source, args.manifests, args.out, hidden, link=args.link, options=options)
        counts = {split: len(files) for split, files in result.manifest["splits"].items()}
        print(f"subset {args.out}: {counts}, digest {result.manifest['digest']}; ground truth in {hidden}")
        for note in result.notes:
            print(f"note: {note}")
    elif command == "validate":
        problems = task.validate(args.gt, args.submission, options)
        if problems:
            raise ValidationFailed(args.submission, problems)
        print(f"{args.submission}: valid")
    elif command == "score":
        scores = task.score(args.gt, args.submission, args.out, mode=args.mode, options=options)
        main = task.main_metric
        print(f"{main.label}: {scores[main.key]:.8f} ({args.mode} mode); scores in {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXTRA_COMMANDS:
        import importlib

        module, _, function = EXTRA_COMMANDS[argv[0]].partition(":")
        return getattr(importlib.import_module(module), function or "main")(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: viprepro {{{','.join(COMMANDS)}}} --task TASK ...  (viprepro COMMAND --task TASK --help for options)\n"
              f"       viprepro {{{','.join(EXTRA_COMMANDS)}}} ...",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if argv[0] == "rerun":  # not a per-task command: it takes a certificate folder or an MLflow run id
        from .report.rerun import main as rerun

        return rerun(argv[1:])
    try:
        return run(argv[0], argv[1:])
    except UserError as exc:
        print(f"viprepro {argv[0]}: error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
