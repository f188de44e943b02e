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
hidden) are never mounted: decoys stand at their host paths (names only, files empty,
`canary`), and during training at /data/test too, so that an attempt to read them fails the
`sandbox_isolation` or `test_images_hidden` audit by name. Dependencies are installed inside
the sandbox as well, the only step with network. The training command writes what prediction
needs into {output}; the predict command writes the submission file into {output}, which is
then checked and copied to the place the scoring rule reads. Each step's record carries its
`audits` and `resource_limit` (see docs/external_submissions.md).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from viprepro.errors import UserError
from viprepro.external import canary, sandbox
from viprepro.external.weights import DEFAULT_MIN_MB, weight_files_audit
from viprepro.files.fileio import atomic_path, canonical_digest, sha256_file, write_json
from viprepro.files.schemas_io import validate

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
STEP_PLACEHOLDERS = {  # the training command never sees the test images
    "train": {"repo", "python", "subset", "train_dir", "val_dir", "output", "threads", "seed"},
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
        raise UserError(
            f"requirements file {part['requirements']!r} not found in the repository", path=spec_path, where="external.requirements"
        )
    return part


def render(template: str, step: str, *, threads: int, seed: int, where: str = "") -> str:
    """The command of `step` with its placeholders filled in."""
    values = {**PLACEHOLDERS, "threads": str(threads), "seed": str(seed)}
    allowed = {k: v for k, v in values.items() if k in STEP_PLACEHOLDERS[step]}
    try:
        return template.format(**allowed)
    except KeyError as exc:
        raise UserError(
            f"placeholder {{{exc.args[0]}}} is not available to the {step} command "
            f"(available: {', '.join('{' + k + '}' for k in sorted(allowed))})",
            where=where,
        ) from None
    except (IndexError, ValueError) as exc:
        raise UserError(f"bad command template ({exc}); write literal braces as {{{{ and }}}}", where=where) from None


# --- decoys and audits -------------------------------------------------------------------


def _decoys(forbidden: list[Path], root: Path, *, test_images: Path | None = None) -> list[canary.Decoy]:
    """Decoys of the forbidden folders at their host paths, and of the test images at /data/test."""
    decoys = [canary.make_decoy("forbidden", Path(path).resolve(), str(Path(path).resolve()), root) for path in forbidden]
    if test_images is not None:
        decoys.append(canary.make_decoy("test_images", test_images, f"{DATA}/test", root))
    return decoys


def _isolation_audits(watcher: canary.Watcher, decoys: list[canary.Decoy]) -> dict:
    audits = {}
    forbidden = [d.target for d in decoys if d.name == "forbidden"]
    if forbidden:
        tried = watcher.attempts["forbidden"]
        audits["sandbox_isolation"] = {
            "passed": not tried,
            "problems": tried,
            "detail": (
                f"the command tried to read the hidden ground truth or the source dataset ({len(tried)} attempt(s) on their decoys)"
                if tried
                else f"no attempt to open {', '.join(forbidden)} (decoys: names only, empty files)"
            ),
        }
    if "test_images" in watcher.attempts:
        tried = watcher.attempts["test_images"]
        audits["test_images_hidden"] = {
            "passed": not tried,
            "problems": tried,
            "detail": (
                "the training command opened the test images' place"
                if tried
                else "the training command had a decoy of the test images (names only) and opened none of it"
            ),
        }
    return audits


def _sandboxed(
    command: str,
    mounts: list[sandbox.Mount],
    decoys: list[canary.Decoy],
    *,
    env: dict,
    limits: sandbox.Limits,
    log: Path,
    network: bool = False,
) -> sandbox.SandboxResult:
    mounts = [*mounts, *(sandbox.Mount(d.folder, d.target) for d in decoys)]
    with canary.Watcher(decoys) as watcher:
        result = sandbox.run(command, mounts, cwd=REPO, env=env, limits=limits, log=log, network=network)
    result.audits.update(_isolation_audits(watcher, decoys))
    return result


def site_packages(environment: Path) -> Path:
    return Path(environment) / "venv" / "lib"


# --- environment --------------------------------------------------------------------------


def build_environment(part: dict, out: Path, *, log: Path, forbidden: list[Path] = ()) -> dict:
    """A virtual environment with the participant's requirements, installed inside the sandbox.

    The venv is made on the host from our interpreter (`--without-pip`: nothing of theirs
    runs); `pip install -r` then runs in the sandbox, with network (the only step that has
    it), the repository read only, the venv as its one writable folder, decoys in place of
    `forbidden`. A local path or sdist among the requirements thus runs the participant's
    code where it cannot reach the hidden data. The record lists the installed distributions
    (from their metadata files: nothing of theirs runs on the host), the requirements' digest, the install's audits
    and resource limit hit, if any.
    """
    repo = Path(part["repository"])
    with atomic_path(out) as tmp:
        venv = tmp / "venv"
        # Mounted at ENV inside the sandbox, so it must not record its host path: a venv
        # without pip, whose bin/python points at the base interpreter.
        _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], log)
        requirements_digest, install = None, None
        if part["requirements"]:
            requirements_digest = sha256_file(repo / part["requirements"])
            install = _install(part, venv, tmp, log=log, forbidden=forbidden)
        record = {
            "requirements": part["requirements"],
            "requirements_sha256": requirements_digest,
            "packages": installed_packages(venv),
            "python": sys.version.split()[0],
            "pip_args": part["pip_args"],
            "install": install,
            "audits": install["audits"] if install else {},
            "resource_limit": install["resource_limit"] if install else None,
        }
        write_json(tmp / "environment.json", record)
    return record


def installed_packages(venv: Path) -> list[str]:
    """'name==version' of every distribution in the venv, read from its metadata files.

    Not `pip freeze`: that starts the venv's interpreter, which would run any `.pth` file the
    participant's packages installed, on the host.
    """
    import importlib.metadata

    paths = [str(p) for p in sorted(Path(venv).glob("lib/python*/site-packages"))]
    return sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions(path=paths) if d.metadata["Name"]})


def _install(part: dict, venv: Path, scratch: Path, *, log: Path, forbidden: list[Path]) -> dict:
    """`pip install -r` in the sandbox with network; UserError when pip fails for another reason than a limit."""
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    host_paths = [Path(a) for a in part["pip_args"] if a.startswith("/") and Path(a).exists()]  # e.g. --find-links /wheels
    mounts = [
        sandbox.Mount(Path(part["repository"]), REPO),
        sandbox.Mount(venv, ENV, writable=True),
        *(sandbox.Mount(p, str(p)) for p in host_paths),
    ]
    command = shlex.join(
        [
            str(base_python),
            "-m",
            "pip",
            "--python",
            f"{ENV}/bin/python",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "-r",
            f"{REPO}/{part['requirements']}",
            *part["pip_args"],
        ]
    )
    limits = step_limits(part["limits"], "install", part["limits"]["threads"])
    decoys = _decoys(list(forbidden), scratch)
    try:
        result = _sandboxed(
            command,
            mounts,
            decoys,
            env={**_sandbox_env(part["limits"]["threads"], 0), "PIP_NO_CACHE_DIR": "1"},
            limits=limits,
            log=log,
            network=True,
        )
    finally:
        for decoy in decoys:
            shutil.rmtree(decoy.folder, ignore_errors=True)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"[viprepro] install in the sandbox: exit {result.exit_code} in {result.seconds:.1f} s\n")
    if not result.ok and result.resource_limit is None and all(a["passed"] for a in result.audits.values()):
        raise UserError(f"installing the requirements failed in the sandbox (exit code {result.exit_code}; see {log})")
    return result.as_record()


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
                raise UserError(
                    "holds symbolic links into the source dataset; external submissions need the subset "
                    "made with `link: hardlink` or `link: copy`",
                    path=subset,
                )
    return subset


def _sandbox_env(threads: int, seed: int) -> dict[str, str]:
    return {
        "PATH": f"{ENV}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": str(seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "VIPREPRO_SEED": str(seed),
        "VIPREPRO_THREADS": str(threads),
    }


def run_step(
    step: str,
    part: dict,
    *,
    environment: Path,
    subset: Path,
    output: Path,
    log: Path,
    threads: int,
    seed: int,
    model_dir: Path | None = None,
    forbidden: list[Path] = (),
) -> sandbox.SandboxResult:
    """Run the `train` or `predict` command in the sandbox with `output` as its only writable folder.

    Decoys stand in for `forbidden` (and, in training, for the test images); the result's
    `audits` say whether the command tried to read them, and whether weight files lie where
    none may (repository, installed packages, the predict step's output).
    """
    subset = _public_subset(subset)
    mounts = [
        sandbox.Mount(Path(part["repository"]), REPO),
        sandbox.Mount(Path(environment) / "venv", ENV),
        sandbox.Mount(subset, DATA),
        sandbox.Mount(Path(output), OUTPUT, writable=True),
    ]
    if step == "predict":
        if model_dir is None:
            raise ValueError("the predict step needs the training output (model_dir)")
        mounts.append(sandbox.Mount(Path(model_dir), MODEL))
    Path(output).mkdir(parents=True, exist_ok=True)
    command = render(part[step], step, threads=threads, seed=seed)
    with tempfile.TemporaryDirectory(prefix=".decoys-", dir=Path(output).parent) as scratch:
        decoys = _decoys(list(forbidden), Path(scratch), test_images=subset / "test" if step == "train" else None)
        result = _sandboxed(
            command, mounts, decoys, env=_sandbox_env(threads, seed), limits=step_limits(part["limits"], step, threads), log=log
        )
    min_mb = part.get("weight_files_mb", DEFAULT_MIN_MB)
    where = (
        {"repository": Path(part["repository"]), "environment": site_packages(environment)}
        if step == "train"
        else {"predict output": Path(output)}
    )
    result.audits["weight_files"] = weight_files_audit(where, min_mb=min_mb)
    return result


def step_limits(limits: dict, step: str, threads: int) -> sandbox.Limits:
    """The sandbox limits of one step from the spec's `limits` mapping."""
    minutes = limits[f"{step}_minutes"]
    cpu = limits.get("cpu_minutes")
    return sandbox.Limits(
        seconds=minutes * 60,
        memory_mb=limits["memory_mb"],
        tmp_mb=limits["tmp_mb"],
        processes=limits.get("processes", 512),
        disk_mb=limits.get("disk_mb", 10240),
        cpu_seconds=None if cpu is None else cpu * 60,
        threads=threads,
    )


def collect_submission(output: Path, filename: str, target: Path) -> str:
    """Copy the submission file the predict command wrote to `target`; returns its sha256."""
    produced = Path(output) / filename
    if produced.is_symlink() or not produced.is_file():
        raise UserError(f"the predict command did not write the submission file {filename!r} into its output folder", path=output)
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
