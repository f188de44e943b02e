"""Seeding and determinism, set once per job before any random number is drawn.

`prepare_environment` must run before torch is imported (CUDA reads CUBLAS_WORKSPACE_CONFIG
when it initialises, Python reads PYTHONHASHSEED at start-up: the entry points re-exec
themselves when it is missing). `seed_everything` and `apply_level` run after.
"""

from __future__ import annotations

import os
import random
import warnings

LEVELS = ("strict", "warn", "off")


def prepare_environment(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"determinism level must be one of {LEVELS}, not {level!r}")
    if level != "off":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ.setdefault("PYTHONHASHSEED", "0")


def apply_level(level: str) -> None:
    import torch

    if level == "off":
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True
        return
    torch.use_deterministic_algorithms(True, warn_only=(level == "warn"))
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (seed, member, epoch, ...), stable across runs."""
    import hashlib

    data = ",".join(str(int(p)) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little") >> 1


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: numpy and random follow the worker's torch seed."""
    import numpy as np
    import torch

    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


class NondeterminismRecorder:
    """Collects the operations torch warned about under the `warn` level."""

    def __init__(self):
        self.operations: list[str] = []
        self._catcher = warnings.catch_warnings(record=True)
        self._records = None

    def __enter__(self):
        self._records = self._catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catcher.__exit__(*exc)
        for record in self._records or []:
            text = str(record.message)
            if "does not have a deterministic implementation" in text or "deterministic" in text.lower():
                if text not in self.operations:
                    self.operations.append(text)
            else:
                warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
        return False
