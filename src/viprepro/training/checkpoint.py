"""Checkpoints that hold the full training state and load without unpickling code.

Saved with torch.save and read back with `weights_only=True`, so a checkpoint from an
untrusted source cannot run anything while it loads. Everything that goes in is plain data:
tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

from pathlib import Path

import torch

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path


def save(state: dict, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: str | Path, *, map_location="cpu") -> dict:
    path = Path(path)
    if not path.exists():
        raise UserError("checkpoint not found", path=path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise UserError(f"cannot load checkpoint safely ({type(exc).__name__}: {str(exc).splitlines()[0]})", path=path) from None


def state_digest(state_dict: dict) -> str:
    """sha256 over a state dict's tensors in key order: equal digests mean identical weights."""
    import hashlib

    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key]
        digest.update(key.encode())
        if torch.is_tensor(value):
            tensor = value.detach().cpu().contiguous()
            digest.update(str(tensor.dtype).encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()
