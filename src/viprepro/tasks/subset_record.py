"""What the last build of a subset was made from and what it wrote: a rerun that finds both
unchanged returns the subset in place after one stat per source file and one per folder.

A build records, in the subset's state (`files.filestate`, beside the subset):

- the *inputs stamp*: the plan (every file's place, source path or text, link mode, image
  check level, the manifest's extra fields) and the (device, inode, size, mtime) of every
  source file. Only a build whose every source was older than `RACY_NS` when it was stated,
  and unchanged while it was read, gets one: those stats vouch for the bytes the build hashed,
  exactly as the state's per-file entries do;
- the outputs: which subset files are not their source's own inode (a hard link, or a
  symbolic link to it, is), with their keys (the digest of the bytes of a file written from
  text, the (device, inode, size, mtime) of a copy), and the (device, inode, mtime) of every
  folder of the subset: a folder's mtime changes whenever an entry is added, removed or
  renamed in it, so an unchanged folder still holds the entries the build put there;
- the sha256 of the manifest file's bytes and the digest of the hidden folder;
- the sha256 of every source, in plan order (a rebuild whose sources are unchanged, for
  instance after Snakemake deleted the outputs, takes them from here without reading the state).

A rerun stats every source and compares the inputs stamp; then stats each folder, and lists
those that changed, or were racy when recorded (changed in the same timestamp tick as the
manifest, written last: a later change in that tick would not show; the subset's root is),
checking that each holds exactly the planned entries, a hard link being its source's inode
(the listing gives inodes without a stat per file); then the keys of the other files, the
manifest's bytes and the hidden folder. Any difference, a copy that was racy when recorded, or
a source file that changed while the build read it means a rebuild. The folders found as built
by a listing are recorded again, so the next rerun needs no listing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import os
import time
from array import array
from pathlib import Path

from viprepro.files import filestate
from viprepro.files.fileio import sha256_bytes, sha256_file
from viprepro.files.filestate import Facts
from viprepro.files.subset_manifest import MANIFEST_NAME, folder_digest

VERSION = 1
SHARED = "="  # a subset file that is its source's inode


_mtime = operator.attrgetter("st_mtime_ns")
_key = operator.attrgetter("st_dev", "st_ino", "st_size", "st_mtime_ns")


def inputs_stamp(task: str, link: str, verify: str, plan, stats: list[os.stat_result | None], started_ns: int) -> str | None:
    """Digest of the plan and of the stat of every source (in `plan.with_sources()` order), or
    None when a source is missing or was modified within `RACY_NS` of `started_ns`."""
    if not all(stats) or (stats and max(map(_mtime, stats)) >= started_ns - filestate.RACY_NS):  # a None: missing
        return None
    header = {"version": VERSION, "task": task, "link": link, "verify": verify, "extra": plan.extra, "folders": list(plan.folders)}
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for name, files in (*plan.splits.items(), ("hidden folder", plan.hidden)):
        _plan_part(digest, name, files)
    try:
        digest.update(array("q", itertools.chain.from_iterable(map(_key, stats))).tobytes())
    except OverflowError:  # a device or inode number beyond 63 bits
        digest.update(repr(list(map(_key, stats))).encode())
    return digest.hexdigest()


_rel, _source, _kind = operator.attrgetter("rel"), operator.attrgetter("source"), operator.attrgetter("text", "copy", "from_dataset")
_LINKED = (None, False, True)  # a file linked from the dataset: the common kind


def _plan_part(digest, name: str, files) -> None:
    """Add a list of `Placed` to `digest`, unambiguously: the places and the sources, each
    column NUL-separated (a path cannot hold a NUL) after its length, and every file of another
    kind than `_LINKED` (text, copy, not from the dataset) with its position."""
    kinds = list(map(_kind, files))
    others = [] if kinds.count(_LINKED) == len(kinds) else [[i, *kind] for i, kind in enumerate(kinds) if kind != _LINKED]
    digest.update(json.dumps([name, len(files), others]).encode())
    for column in ("\0".join(map(_rel, files)), "\0".join(map(str, map(_source, files)))):
        data = column.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)


def output_key(st: os.stat_result | None, source: os.stat_result) -> str:
    if st is None:
        return "missing"
    if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (source.st_dev, source.st_ino, source.st_size, source.st_mtime_ns):
        return SHARED
    return f"{st.st_dev},{st.st_ino},{st.st_size},{st.st_mtime_ns}"


def _folder_key(st: os.stat_result, recent_ns: int) -> str | None:
    """A folder's (device, inode, mtime): its entries are unchanged while it is the same. None
    when it changed at or after `recent_ns` (an entry made in the same timestamp tick after it
    was stated would not show): the next run lists that folder instead."""
    return None if st.st_mtime_ns >= recent_ns else f"{st.st_dev},{st.st_ino},{st.st_mtime_ns}"


def outputs_record(
    root: str, folders: set[str], keys: list[str], stats: list[os.stat_result | None], stated_ns: int, probe: str
) -> dict | None:
    """What a rerun checks of the subset `root` just built (see the module docstring): the
    keys of the subset files that are not their source's inode (`keys`, in plan order, `=`
    for the others) and the key of every folder. None when such a file was modified within
    `RACY_NS` of `stated_ns`, when it was stated (`stats`: theirs).

    A folder is racy, as in git, if its mtime is not older than that of `probe`, a file just
    written on the same file system (the manifest): whatever the file system's timestamp
    granularity, any later change of the folder dates it at least as late as the probe."""
    if any(st is None or st.st_mtime_ns >= stated_ns - filestate.RACY_NS for st in stats):
        return None
    own = [i for i, key in enumerate(keys) if key != SHARED]
    recent = os.stat(probe).st_mtime_ns
    named = {rel: _folder_key(os.lstat(f"{root}/{rel}" if rel else root), recent) for rel in sorted(folders)}
    return {"own": own, "keys": sha256_bytes("\n".join(keys[i] for i in own).encode()), "folders": named}


def folders_of(root: str, made: set[str]) -> set[str]:
    """The folders (relative to `root`, "" for itself) that hold the folders `made`, with them."""
    folders = {""}
    for path in made:
        if not path.startswith(root + "/"):
            continue
        rel = path[len(root) + 1 :]
        while rel not in folders:
            folders.add(rel)
            rel = rel.rpartition("/")[0]
    return folders


class Record:
    """One build's record (see the module docstring)."""

    def __init__(self, inputs: str | None, outputs: dict | None, manifest: str, hidden: str, digests: bytes):
        self.inputs, self.outputs, self.manifest, self.hidden, self.digests = inputs, outputs, manifest, hidden, digests
        self.refreshed = False  # folder keys renewed by a rerun that listed them

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

    def save(self, state: filestate.FileState, out: Path, *, digests: bool = True) -> None:
        """Store the record; without its `digests` (unchanged) when only the text changed."""
        fields = {"version": VERSION, "inputs": self.inputs, "outputs": self.outputs, "manifest": self.manifest, "hidden": self.hidden}
        state.set_record(out, json.dumps(fields, sort_keys=True), self.digests if digests else None)

    def facts(self, sources: list[str], stats: list[os.stat_result]) -> dict[str, Facts] | None:
        """The facts of the sources of the build (given that the inputs stamp matched)."""
        if len(self.digests) != 32 * len(sources):
            return None
        digests = self.digests
        new = tuple.__new__
        return {
            source: new(Facts, (st.st_size, digests[32 * i : 32 * i + 32].hex(), None))
            for i, (source, st) in enumerate(zip(sources, stats))
        }


def digests_of(sources: list[str], facts: dict[str, Facts]) -> bytes | None:
    """The sha256 of every source, in order, 32 bytes each; None if one was not read."""
    try:
        digests = b"".join(bytes.fromhex(facts[source].sha256) for source in sources)
    except ValueError:
        return None
    return digests if len(digests) == 32 * len(sources) else None


FOLDER = -1


def _positions(files) -> list[int]:
    """For each subset file, the position of its source's stat (sources are counted in plan order)."""
    return list(itertools.accumulate((p.source is not None for p in files), initial=0))


def reusable(out: Path, hidden: Path, plan, stats: list[os.stat_result], record: Record) -> dict | None:
    """The manifest of the subset in place if it is exactly what the recorded build wrote
    (call only when the inputs stamp matched the record's): the manifest's bytes, the hidden
    folder's digest, the key of every file that is not its source's inode, and, per folder,
    its key or, if that changed or was racy, the inode of every entry of a listing of it.
    Reads no subset file but the manifest and those written from text."""
    outputs = record.outputs
    if outputs is None:
        return None
    root = str(out)
    try:
        data = (out / MANIFEST_NAME).read_bytes()
        if sha256_bytes(data) != record.manifest or folder_digest(hidden) != record.hidden:
            return None
        files = [p for listed in plan.splits.values() for p in listed] if outputs["own"] else []
        sourced = _positions(files) if outputs["own"] else []
        keys = []
        for i in outputs["own"]:
            p = files[i]
            path = f"{root}/{p.rel}"
            if p.text is not None:
                keys.append("text:" + sha256_file(path))
            else:
                keys.append(output_key(os.stat(path), stats[sourced[i]]))
        if sha256_bytes("\n".join(keys).encode()) != outputs["keys"]:
            return None
        stated = time.time_ns()
        unsure = {}
        for rel, key in outputs["folders"].items():
            st = os.lstat(f"{root}/{rel}" if rel else root)
            if key is None or key != f"{st.st_dev},{st.st_ino},{st.st_mtime_ns}":
                unsure[rel] = st
        if unsure:
            files = [p for listed in plan.splits.values() for p in listed]
            if not _listed_as_built(root, unsure, files, stats, set(outputs["own"]), outputs["folders"]):
                return None
        for rel, st in unsure.items():  # listed and found as built: its key from now on
            outputs["folders"][rel] = _folder_key(st, stated - filestate.RACY_NS)
            record.refreshed = True
        return json.loads(data)
    except (OSError, IndexError, KeyError, TypeError, ValueError):
        return None


def _listed_as_built(root: str, unsure: dict[str, os.stat_result], files, stats, own: set[int], folders: dict) -> bool:
    """Whether each folder in `unsure` holds exactly the entries the plan puts there: the
    subfolders, the manifest, and files, those shared with their source being its inode."""
    expected: dict[str, dict[str, int]] = {rel: {} for rel in unsure}
    if "" in expected:
        expected[""][MANIFEST_NAME] = len(files)  # checked by its bytes
    for rel in folders:
        parent, _, name = rel.rpartition("/")
        if rel and parent in expected:
            expected[parent][name] = FOLDER
    rels = map(_rel, files)
    if unsure.keys() == {""}:  # the common case, the root alone (racy: the manifest was written in it last)
        for i, rel in enumerate(rels):
            if "/" not in rel:
                expected[""][rel] = i
    else:
        for i, rel in enumerate(rels):
            folder, _, name = rel.rpartition("/")
            if folder in expected:
                expected[folder][name] = i
    sourced = None
    for rel, st in unsure.items():
        wanted = expected[rel]
        with os.scandir(f"{root}/{rel}" if rel else root) as entries:
            for entry in entries:
                i = wanted.pop(entry.name, None)
                if i is None or entry.is_dir(follow_symlinks=False) != (i == FOLDER):
                    return False
                if i == FOLDER or i == len(files) or i in own:
                    continue
                sourced = sourced or _positions(files)
                source = stats[sourced[i]]
                if entry.inode() != source.st_ino or st.st_dev != source.st_dev:
                    return False
        if wanted:
            return False
    return True
