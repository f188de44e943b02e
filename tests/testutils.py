"""Helpers shared by the tests (importable as `testutils`: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> str:
    """Digest of every file's path, bytes and mtime under root (to prove nothing changed)."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*")):
        stat = path.lstat()
        digest.update(str(path.relative_to(root)).encode())
        digest.update(str(stat.st_mtime_ns).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def snakemake_command() -> list[str]:
    venv = REPO / ".venv" / "bin" / "snakemake"
    return [str(venv) if venv.exists() else "snakemake"]


def pipeline_env() -> dict:
    """Environment for a pipeline subprocess: the venv's python first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_pipeline(directory: Path, configfile: Path, *, cores: int = 2, timeout: int = 900, env: dict | None = None):
    """`snakemake` on the repository's Snakefile in `directory` with one config file; the
    completed process (the caller asserts on its return code and output)."""
    command = [*snakemake_command(), "--snakefile", str(REPO / "Snakefile"), "--directory", str(directory)]
    command += ["--configfile", str(configfile), "--cores", str(cores)]
    return subprocess.run(command, capture_output=True, text=True, env=env or pipeline_env(), timeout=timeout)


def tiny_dataset(task, root: Path, options: dict) -> dict:
    """Synthesise a task's dataset under root and cut its subset: the paths the tests use."""
    made = task.synthesize(root / "synth", seed=0, options=dict(options))
    task.subset(made["source"], made["manifests"], root / "subset", root / "hidden", link="hardlink", options={})
    return {
        "root": root,
        "source": made["source"],
        "manifests": made["manifests"],
        "subset": root / "subset",
        "hidden": root / "hidden",
        "gt": task.hidden_ground_truth(root / "hidden"),
    }


#: The smallest synthetic datasets that still exercise every path of a task (smoke-scale runs).
SMOKE_DATASETS = {
    "classification": {"classes": 3, "subset_per_class": 4, "extra_train_per_class": 1, "val_per_class": 2, "image_size": 32},
    "segmentation": {"width": 96, "height": 48, "train_images": 4, "val_images": 2, "test_images": 2, "unused_images": 1},
    "detection": {"train_images": 8, "val_images": 4, "unused_train2017_images": 2, "val2017_images": 4, "categories": 3},
    "action_recognition": {
        "num_classes": 3,
        "groups": 2,
        "test_groups": 1,
        "clips_per_group": 2,
        "frames": 12,
        "size": 16,
        "fps": 25,
        "quality": 3,
    },
}


def one_thread():
    """Body of an autouse fixture: one intra-op thread (on a shared 2-core machine more threads
    only wait on each other). Use as `_one_thread = pytest.fixture(autouse=True)(one_thread)`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
