"""Random mutations of valid submissions: a clean refusal or a score, never a traceback.

Property-style and seeded: for every task, truncations, byte flips, inserted and repeated
bytes, re-encodings and (zips) re-zips with other methods, folders and flags are fed to
`validate` and to `score` in both modes. Each must return, or raise `UserError` with a
one-line message; any other exception fails the test with the seed that made it.
"""

from __future__ import annotations

import io
import os
import random
import zipfile

import pytest
from hostile_helpers import patch_zip

from viprepro.errors import UserError

CASES_PER_TASK = int(os.environ.get("VIPREPRO_MUTATION_CASES", "24"))  # more for a longer search
TASKS = ("classification", "detection", "segmentation", "action_recognition")


def _bytes_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    kind = rng.choice(["truncate", "flip", "insert", "repeat", "delete"])
    at = rng.randrange(len(data))
    if kind == "truncate":
        return f"truncate at {at}", data[:at]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return "flip bytes", bytes(out)
    if kind == "insert":
        junk = bytes(rng.choice(b'[]{},:"\\0\x00\xff\n ') for _ in range(rng.randint(1, 16)))
        return f"insert {junk!r} at {at}", data[:at] + junk + data[at:]
    if kind == "repeat":
        end = min(len(data), at + rng.randint(1, 64))
        return f"repeat bytes {at}:{end}", data[:end] + data[at:end] * rng.randint(2, 50) + data[end:]
    end = min(len(data), at + rng.randint(1, 64))
    return f"delete bytes {at}:{end}", data[:at] + data[end:]


def _text_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    kind = rng.choice(["utf-16", "utf-32", "latin-1", "bom", "crlf", "bytes", "bytes"])
    text = data.decode("utf-8")
    if kind in ("utf-16", "utf-32"):
        return kind, text.encode(kind)
    if kind == "latin-1":
        at = rng.randrange(len(text))
        return "latin-1 byte", (text[:at] + "\u00e9" + text[at:]).encode("latin-1")
    if kind == "bom":
        return "utf-8 bom", b"\xef\xbb\xbf" + data
    if kind == "crlf":
        return "crlf", data.replace(b"\n", b"\r\n")
    return _bytes_mutation(rng, data)


def _zip_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    kind = rng.choice(["rezip", "folder", "flag", "method", "size", "bytes", "member"])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if kind in ("rezip", "folder", "member"):
        method = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
        prefix = rng.choice(["", "results/", "../", "/abs/"]) if kind == "folder" else ""
        if kind == "member":
            name = rng.choice(sorted(members))
            members[name] = _bytes_mutation(rng, members[name])[1]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, body in members.items():
                archive.writestr(prefix + name, body)
        return f"{kind} method {method} prefix {prefix!r}", buffer.getvalue()
    if kind == "flag":
        return "encrypted flag", patch_zip(data, flag=0x1, only=rng.choice(sorted(members)))
    if kind == "method":
        method = rng.choice([1, 6, 9, 93, 95, 98, 99])
        return f"method {method}", patch_zip(data, method=method, only=rng.choice(sorted(members)))
    if kind == "size":
        return "declared size", patch_zip(data, size=rng.choice([0, 1, 10, 1 << 31]), only=rng.choice(sorted(members)))
    return _bytes_mutation(rng, data)


@pytest.mark.parametrize("task_name", TASKS)
def test_mutated_submissions_are_refused_or_scored(datasets, tmp_path, task_name):
    data = datasets[task_name]
    task, gt, valid = data["task"], data["gt"], data["valid"]
    original = valid.read_bytes()
    outcomes = {"scored": 0, "refused": 0}
    for case in range(CASES_PER_TASK):
        rng = random.Random(f"{task_name}-{case}")
        what, mutated = (_zip_mutation if valid.suffix == ".zip" else _text_mutation)(rng, original)
        path = tmp_path / f"case_{case}{valid.suffix}"
        path.write_bytes(mutated)
        for call, run in (
            ("validate", lambda: task.validate(gt, path, {"workers": 1})),
            ("strict", lambda: task.score(gt, path, tmp_path / f"s{case}", mode="strict", options={"workers": 1})),
            ("official", lambda: task.score(gt, path, tmp_path / f"o{case}", mode="official", options={"workers": 1})),
        ):
            try:
                run()
                outcomes["scored"] += 1
            except UserError as exc:
                assert "\n" not in exc.message, f"{task_name} case {case} ({what}), {call}: two-line message {exc.message!r}"
                outcomes["refused"] += 1
            except Exception as exc:  # noqa: BLE001 - the property under test
                pytest.fail(f"{task_name} case {case} ({what}), {call}: {type(exc).__name__}: {exc}")
    assert outcomes["refused"] > 0, outcomes  # the mutations do break files
