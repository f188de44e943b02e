"""What the last build of a subset was made from and what it wrote: a rerun that finds both
unchanged returns the subset in place after one stat per source file and one listing per folder.

A build records, in the subset's state (`files.filestate`, beside the subset):

- the *inputs stamp*: the plan (every file's place, source path or text, link mode, image
  check level, the manifest's extra fields) and the (device, inode, size, mtime) of every
  source file. Only a build whose every source was older than `RACY_NS` when it was stated,
  and unchanged while it was read, gets one: those stats vouch for the bytes the build hashed,
  exactly as the state's per-file entries do;
- the *outputs stamp*: per subset file, `=` when it is the source's own inode (a hard link, or
  a symbolic link to it), the digest of its bytes for a file written from text, its own
  (device, inode, size, mtime) otherwise (a copy: a build that wrote one within `RACY_NS` of
  the start, as copying does, records no outputs stamp, and the next run rebuilds);
- the sha256 of the manifest file's bytes and the digest of the hidden folder;
- the sha256 of every source, in plan order (a rebuild whose sources are unchanged, for
  instance after Snakemake deleted the outputs, takes them from here without reading the state).

A rerun stats every source, compares the inputs stamp, then lists the subset's folders (the
inode of each entry comes with the listing: a hard link to the source needs no stat of its
own), and compares the names and the outputs stamp; the manifest and the hidden folder are
compared by their bytes. Any difference, or a racy stat at build time, means a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from viprepro.files import filestate
from viprepro.files.fileio import sha256_bytes, sha256_file
from viprepro.files.filestate import Facts
from viprepro.files.subset_manifest import MANIFEST_NAME, folder_digest

VERSION = 1
SHARED = "="  # a subset file that is its source's inode


def _sources(files) -> list[str | None]:
    return [p.source if p.text is None else "text:" + sha256_bytes(p.text.encode("utf-8")) for p in files]


def inputs_stamp(task: str, link: str, verify: str, plan, stats: list[os.stat_result | None], started_ns: int) -> str | None:
    """Digest of the plan and of the stat of every source (in `plan.with_sources()` order), or
    None when a source is missing or was modified within `RACY_NS` of `started_ns`."""
    recent = started_ns - filestate.RACY_NS
    keys = []
    for st in stats:
        if st is None or st.st_mtime_ns >= recent:
            return None
        keys.append(f"{st.st_dev},{st.st_ino},{st.st_size},{st.st_mtime_ns}")
    digest = hashlib.sha256()
    header = {"version": VERSION, "task": task, "link": link, "verify": verify, "extra": plan.extra, "folders": list(plan.folders)}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name, files in (*((f"split {s}", f) for s, f in plan.splits.items()), ("hidden", plan.hidden)):
        columns = [name, [p.rel for p in files], _sources(files), "".join("c" if p.copy else "d" if p.from_dataset else "m" for p in files)]
        digest.update(json.dumps(columns).encode())
    digest.update("\n".join(keys).encode())
    return digest.hexdigest()


def output_key(st: os.stat_result, source: os.stat_result) -> str:
    if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (source.st_dev, source.st_ino, source.st_size, source.st_mtime_ns):
        return SHARED
    return f"{st.st_dev},{st.st_ino},{st.st_size},{st.st_mtime_ns}"


def outputs_stamp(keys: list[str], stats: list[os.stat_result], stated_ns: int) -> str | None:
    """Digest of the subset files' keys; None if a file that is not its source's inode was
    modified within `RACY_NS` of `stated_ns`, when it was stated (its stat could miss an edit
    made in the same tick)."""
    recent = stated_ns - filestate.RACY_NS
    if any(st is not None and st.st_mtime_ns >= recent for st in stats):
        return None
    return sha256_bytes("\n".join(keys).encode())


def _listing(root: str) -> dict[str, tuple[int, int]]:
    """Every non-folder entry under `root`: relative path -> (inode, device of its folder)."""
    found: dict[str, tuple[int, int]] = {}
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        device = os.stat(folder).st_dev
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((f"{prefix}{entry.name}/", entry.path))
                else:
                    found[prefix + entry.name] = (entry.inode(), device)
    return found


class Record:
    """One build's record (see the module docstring)."""

    def __init__(self, inputs: str | None, outputs: str | None, manifest: str, hidden: str, digests: bytes):
        self.inputs, self.outputs, self.manifest, self.hidden, self.digests = inputs, outputs, manifest, hidden, digests

    @classmethod
    def load(cls, state: filestate.FileState, out: Path) -> Record | None:
        stored = state.record(out)
        if stored is None:
            return None
        try:
            fields = json.loads(stored[0])
            if fields.pop("version") != VERSION:
                return None
            return cls(**fields, digests=stored[1])
        except (ValueError, KeyError, TypeError):
            return None

    def save(self, state: filestate.FileState, out: Path) -> None:
        fields = {"version": VERSION, "inputs": self.inputs, "outputs": self.outputs, "manifest": self.manifest, "hidden": self.hidden}
        state.set_record(out, json.dumps(fields, sort_keys=True), self.digests)

    def facts(self, sources: list[str], stats: list[os.stat_result]) -> dict[str, Facts] | None:
        """The facts of the sources of the build (given that the inputs stamp matched)."""
        if len(self.digests) != 32 * len(sources):
            return None
        digests = self.digests
        return {source: Facts(st.st_size, digests[32 * i : 32 * i + 32].hex()) for i, (source, st) in enumerate(zip(sources, stats))}


def digests_of(sources: list[str], facts: dict[str, Facts]) -> bytes | None:
    """The sha256 of every source, in order, 32 bytes each; None if one was not read."""
    try:
        return b"".join(bytes.fromhex(facts[source].sha256) for source in sources)
    except ValueError:
        return None


def reusable(out: Path, hidden: Path, plan, stats: list[os.stat_result], record: Record) -> dict | None:
    """The manifest of the subset in place if it is exactly what the recorded build wrote
    (call only when the inputs stamp matched the record's): the manifest's bytes, the hidden
    folder's digest, the names in the subset and the outputs stamp. Reads no subset file but
    the manifest and those written from text."""
    if record.outputs is None:
        return None
    root = str(out)
    try:
        data = (out / MANIFEST_NAME).read_bytes()
        if sha256_bytes(data) != record.manifest or folder_digest(hidden) != record.hidden:
            return None
        found = _listing(root)
        keys, index, placed = [], 0, 1
        for files in plan.splits.values():
            placed += len(files)
            for p in files:
                if p.text is not None:
                    keys.append("text:" + sha256_file(f"{root}/{p.rel}"))
                    continue
                source = stats[index]
                index += 1
                inode, device = found[p.rel]
                if inode == source.st_ino and device == source.st_dev:
                    keys.append(SHARED)
                else:  # a copy, or a symbolic link: its own stat
                    keys.append(output_key(os.stat(f"{root}/{p.rel}"), source))
        if len(found) != placed or MANIFEST_NAME not in found:
            return None
        if sha256_bytes("\n".join(keys).encode()) != record.outputs:
            return None
        return json.loads(data)
    except (OSError, KeyError, ValueError):
        return None
