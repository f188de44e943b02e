"""`viprepro models --task T` and `viprepro spec import-timm ARGS_YAML ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.errors import UserError


def models_main(argv: list[str]) -> int:
    """List every model name a spec of the task can use, by origin."""
    from viprepro.specs import model_names
    from viprepro.tasks import TASK_NAMES

    parser = argparse.ArgumentParser(prog="viprepro models", description=models_main.__doc__)
    parser.add_argument("--task", required=True, choices=TASK_NAMES)
    parser.add_argument("--filter", default="", help="only names containing this text")
    args = parser.parse_args(argv)
    for origin, names in model_names.all_names(args.task).items():
        shown = [n for n in names if args.filter in n]
        print(f"# {origin} ({len(shown)}): always from scratch")
        for name in shown:
            print(name)
    return 0


def _claims(values: list[str]) -> dict[str, float]:
    claims = {}
    for value in values:
        metric, sep, number = value.partition("=")
        try:
            claims[metric] = float(number)
        except ValueError:
            sep = ""
        if not sep or not metric:
            raise UserError(f"--claim takes METRIC=VALUE, not {value!r}")
    return claims


def spec_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="viprepro spec", description="Write submission specs.")
    sub = parser.add_subparsers(dest="command", required=True)
    timm = sub.add_parser("import-timm", help="a spec from the args.yaml that timm's train.py wrote")
    timm.add_argument("args_yaml", type=Path)
    timm.add_argument("--name", required=True, help="the submission's name")
    timm.add_argument("--claim", action="append", required=True, metavar="METRIC=VALUE", help="claimed score, e.g. top1=0.67 (repeatable)")
    timm.add_argument("--split", choices=("test", "val"), default="test", help="split of the claims")
    timm.add_argument("--tolerance", type=float, default=0.01, help="absolute tolerance of the claims")
    timm.add_argument("--reference", default="", help="where the claim is stated")
    timm.add_argument("--out", required=True, type=Path, help="spec file to write")
    timm.add_argument(
        "--allow-unmapped",
        action="store_true",
        help="write the spec even when fields cannot be expressed; they are recorded under `unmapped:` (not applied)",
    )
    args = parser.parse_args(argv)
    try:
        return _import_timm(args)
    except UserError as exc:
        print(f"viprepro spec import-timm: error: {exc.message}", file=sys.stderr)
        return 1


def _import_timm(args) -> int:
    from viprepro.files.fileio import atomic_path
    from viprepro.files.schemas_io import read_yaml
    from viprepro.specs.load import load_spec
    from viprepro.specs.timm_import import import_timm_args, render

    if args.out.exists():
        raise UserError("exists already (nothing a user made is overwritten)", path=args.out)
    imported = import_timm_args(
        read_yaml(args.args_yaml),
        name=args.name,
        claims=_claims(args.claim),
        split=args.split,
        tolerance=args.tolerance,
        reference=args.reference,
        source=str(args.args_yaml),
    )
    if imported.unmapped and not args.allow_unmapped:
        lines = [f"  {key} = {v['value']!r}: {v['why']}" for key, v in imported.unmapped.items()]
        print(
            f"viprepro spec import-timm: error: {args.args_yaml}: {len(lines)} training field(s) cannot be expressed "
            "(--allow-unmapped records them under `unmapped:`, not applied):\n" + "\n".join(lines),
            file=sys.stderr,
        )
        return 1
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(render(imported), encoding="utf-8")
        load_spec(tmp)  # the written spec must load: strict keys, known names
    print(f"wrote {args.out}: {len(imported.mapped)} field(s) mapped, {len(imported.ignored)} ignored, {len(imported.unmapped)} unmapped")
    for key, text in imported.ignored.items():
        print(f"  ignored {key}: {text}")
    return 0
