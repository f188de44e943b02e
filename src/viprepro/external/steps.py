"""The steps of an external submission: its environment, its training, its prediction.

Inside the sandbox every command sees the same fixed paths, whatever the host's layout:

    /submission/repo         the participant's repository (read only)        {repo}
    /submission/env          its virtual environment (read only)             {python} = /submission/env/bin/python
    /data                    the task's public subset (read only)            {subset}
    /data/train, /data/val   its training and validation splits              {train_dir} {val_dir}
    /data/test               the test split, images only                     {test_images}
    /submission/model        the training output (read only; predict only)   {model_dir}
    /submission/output       the step's output folder, the only writable one {output}

plus {threads} and {seed}. The source dataset and the test ground truth (results/data/<task>/
hidden) are never mounted. The training command writes what prediction needs into {output};
the predict command writes the submission file into {output}, which is then checked and
copied to the place the scoring rule reads.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import UserError
from ..fileio import atomic_path, canonical_digest, sha256_file, write_json
from ..schemas_io import validate
from . import sandbox

REPO, ENV, DATA, MODEL, OUTPUT = "/submission/repo", "/submission/env", "/data", "/submission/model", "/submission/output"
PLACEHOLDERS = {
    "repo": REPO,
    "python": f"{ENV}/bin/python",
    "subset": DATA,
    "train_dir": f"{DATA}/train",
    "val_dir": f"{DATA}/val",
    "test_images": f"{DATA}/test",
    "model_dir": MODEL,
    "output": OUTPUT,
}
STEP_PLACEHOLDERS = {
    "train": {"repo", "python", "subset", "train_dir", "val_dir", "test_images", "output", "threads", "seed"},
    "predict": {"repo", "python", "subset", "test_images", "model_dir", "output", "threads", "seed"},
}


def external_part(spec: dict, spec_path: str | Path) -> dict:
    """The validated `external` mapping of a spec, its repository resolved to an absolute path."""
    if spec.get("kind") != "external" or "external" not in spec:
        raise UserError("not an external submission (needs `kind: external` and an `external` mapping)", path=spec_path)
    part = dict(spec["external"])
    validate(part, "external.schema.yaml", path=spec_path, where="external")
    repo = Path(part["repository"])
    repo = repo if repo.is_absolute() else Path(spec_path).resolve().parent / repo
    if not repo.is_dir():
        raise UserError(f"repository {str(repo)!r} is not a folder", path=spec_path, where="external.repository")
    part["repository"] = str(repo.resolve())
    for step in ("train", "predict"):
        render(part[step], step, threads=1, seed=0, where=f"{spec_path} (external.{step})")  # unknown placeholders fail now
    if part["requirements"] and not (repo / part["requirements"]).is_file():
        raise UserError(f"requirements file {part['requirements']!r} not found in the repository", path=spec_path,
                        where="external.requirements")
    return part


def render(template: str, step: str, *, threads: int, seed: int, where: str = "") -> str:
    """The command of `step` with its placeholders filled in."""
    values = {**PLACEHOLDERS, "threads": str(threads), "seed": str(seed)}
    allowed = {k: v for k, v in values.items() if k in STEP_PLACEHOLDERS[step]}
    try:
        return template.format(**allowed)
    except KeyError as exc:
        raise UserError(f"placeholder {{{exc.args[0]}}} is not available to the {step} command "
                        f"(available: {', '.join('{' + k + '}' for k in sorted(allowed))})", where=where) from None
    except (IndexError, ValueError) as exc:
        raise UserError(f"bad command template ({exc}); write literal braces as {{{{ and }}}}", where=where) from None


# --- environment --------------------------------------------------------------------------


def build_environment(part: dict, out: Path, *, log: Path) -> dict:
    """A virtual environment with the participant's requirements, built outside the sandbox.

    Network access happens here, not in the sandbox; pip's own output goes to `log`. The
    record lists the installed distributions (pip freeze) and the requirements' digest.
    """
    repo = Path(part["repository"])
    with atomic_path(out) as tmp:
        venv = tmp / "venv"
        # The environment is mounted at ENV inside the sandbox, so it must not record its
        # host path: a venv without pip, whose bin/python points at the base interpreter.
        _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], log)
        requirements_digest = None
        if part["requirements"]:
            requirements = repo / part["requirements"]
            requirements_digest = sha256_file(requirements)
            _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-input",
                  "--disable-pip-version-check", "-r", str(requirements), *part["pip_args"]], log, cwd=repo)
        freeze = _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "freeze", "--all"], log,
                      capture=True)
        record = {"requirements": part["requirements"], "requirements_sha256": requirements_digest,
                  "packages": sorted(l for l in freeze.splitlines() if l.strip()), "python": sys.version.split()[0],
                  "pip_args": part["pip_args"]}
        write_json(tmp / "environment.json", record)
    return record


def _run(argv: list[str], log: Path, *, cwd: Path | None = None, capture: bool = False) -> str:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE if capture else out, stderr=out, text=True, timeout=3600)
    if done.returncode != 0:
        raise UserError(f"`{shlex.join(argv[:6])} ...` failed with exit code {done.returncode} (see {log})")
    return done.stdout or ""


# --- the sandboxed steps ------------------------------------------------------------------


def _public_subset(subset: Path) -> Path:
    """The subset folder, refused when it holds symbolic links (they would lead to the source)."""
    subset = Path(subset).resolve()
    for root, dirs, files in os.walk(subset):
        for name in [*dirs, *files]:
            if os.path.islink(os.path.join(root, name)):
                raise UserError("holds symbolic links into the source dataset; external submissions need the subset "
                                "made with `link: hardlink` or `link: copy`", path=subset)
    return subset


def _sandbox_env(threads: int, seed: int) -> dict[str, str]:
    return {"PATH": f"{ENV}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
            "PYTHONHASHSEED": str(seed), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads), "VIPREPRO_SEED": str(seed),
            "VIPREPRO_THREADS": str(threads)}


def run_step(step: str, part: dict, *, environment: Path, subset: Path, output: Path, log: Path, threads: int, seed: int,
             model_dir: Path | None = None) -> sandbox.SandboxResult:
    """Run the `train` or `predict` command in the sandbox with `output` as its only writable folder."""
    mounts = [sandbox.Mount(Path(part["repository"]), REPO), sandbox.Mount(Path(environment) / "venv", ENV),
              sandbox.Mount(_public_subset(subset), DATA), sandbox.Mount(Path(output), OUTPUT, writable=True)]
    if step == "predict":
        if model_dir is None:
            raise ValueError("the predict step needs the training output (model_dir)")
        mounts.append(sandbox.Mount(Path(model_dir), MODEL))
    Path(output).mkdir(parents=True, exist_ok=True)
    command = render(part[step], step, threads=threads, seed=seed)
    return sandbox.run(command, mounts, cwd=REPO, env=_sandbox_env(threads, seed), limits=step_limits(limits, step, threads), log=log)


def step_limits(limits: dict, step: str, threads: int) -> sandbox.Limits:
    """The sandbox limits of one step from the spec's `limits` mapping."""
    minutes = limits["train_minutes"] if step == "train" else limits["predict_minutes"]
    cpu = limits.get("cpu_minutes")
    return sandbox.Limits(seconds=minutes * 60, memory_mb=limits["memory_mb"], tmp_mb=limits["tmp_mb"],
                          processes=limits.get("processes", 512), disk_mb=limits.get("disk_mb", 10240),
                          cpu_seconds=None if cpu is None else cpu * 60, threads=threads)


def collect_submission(output: Path, filename: str, target: Path) -> str:
    """Copy the submission file the predict command wrote to `target`; returns its sha256."""
    produced = Path(output) / filename
    if produced.is_symlink() or not produced.is_file():
        raise UserError(f"the predict command did not write the submission file {filename!r} into its output folder",
                        path=output)
    with atomic_path(target) as tmp:
        shutil.copyfile(produced, tmp)
    return sha256_file(target)


def folder_digest(folder: Path) -> str:
    """Digest of a folder's file names and contents (the training output, for the records)."""
    entries = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink():
            entries[path.relative_to(folder).as_posix()] = sha256_file(path)
    return canonical_digest(entries)


def command_digest(part: dict) -> str:
    return hashlib.sha256(f"{part['train']}\n{part['predict']}".encode()).hexdigest()
