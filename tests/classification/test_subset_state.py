"""The subset step's state cache: a rerun reads no unchanged file, and any change is caught."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from viprepro.errors import UserError
from viprepro.files import filestate
from viprepro.files.fileio import canonical_digest, sha256_file
from viprepro.files.filestate import FileState, scan, state_path_for, subset_state
from viprepro.files.subset_manifest import MANIFEST_NAME, read_manifest

HOUR_AGO = time.time_ns() - 3600 * 10**9


def age(root: Path) -> None:
    """Date every file an hour back: files written this instant are 'racy' and never cached."""
    for path in Path(root).rglob("*"):
        if path.is_file():
            os.utime(path, ns=(HOUR_AGO, HOUR_AGO))


@pytest.fixture
def reads(monkeypatch):
    """Paths the state actually opened (hashed), in this process."""
    opened: list[str] = []
    real = filestate._read

    def counting(path, level):
        opened.append(path)
        return real(path, level)

    monkeypatch.setattr(filestate, "_read", counting)
    monkeypatch.setattr(filestate, "PARALLEL_FROM", 10**9)  # read here, where the counter is
    return opened


@pytest.fixture
def source(tmp_path, task):
    options = {"classes": 4, "subset_per_class": 6, "extra_train_per_class": 1, "val_per_class": 4, "image_size": 32}
    data = task.synthesize(tmp_path / "synthetic", seed=5, options=options)
    age(data["source"])
    return data


def uncached_digest(root: Path, manifest: dict) -> str:
    """The manifest digest computed as before the cache: every file hashed from its bytes."""
    split_digests = {
        split: canonical_digest(
            [{"path": e["path"], "size": (root / e["path"]).stat().st_size, "sha256": sha256_file(root / e["path"])} for e in entries]
        )
        for split, entries in manifest["splits"].items()
    }
    return canonical_digest(split_digests)


def content(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(Path(root).rglob("*")) if p.is_file()}


def test_rerun_reads_nothing_and_gives_the_same_tree_and_digest(tmp_path, task, source, reads):
    out, hidden = tmp_path / "results" / "subset", tmp_path / "results" / "hidden"
    first = task.subset(source["source"], source["manifests"], out, hidden, link="hardlink", options={})
    files = sum(len(v) for v in first.manifest["splits"].values())
    assert len(reads) == files  # each source read once: header check and digest in one pass, the links hit
    assert first.manifest["digest"] == uncached_digest(out, first.manifest)
    tree, gt = content(out), content(hidden)
    assert state_path_for(out) == tmp_path / "results" / ".subset.state.sqlite" and state_path_for(out).is_file()
    assert not list(Path(source["source"]).rglob("*.sqlite"))

    reads.clear()
    again = task.subset(source["source"], source["manifests"], out, hidden, link="hardlink", options={})
    assert reads == [] and "up to date" in again.notes[0]
    assert again.manifest == first.manifest and content(out) == tree and content(hidden) == gt

    shutil.rmtree(out)  # what Snakemake does before it reruns a job: outputs gone, the state kept
    shutil.rmtree(hidden)
    rebuilt = task.subset(source["source"], source["manifests"], out, hidden, link="hardlink", options={})
    assert reads == [] and not rebuilt.notes
    assert rebuilt.manifest == first.manifest and content(out) == tree and content(hidden) == gt

    uncached = task.subset(source["source"], source["manifests"], tmp_path / "plain", tmp_path / "plain_hidden", link="copy", options={})
    assert uncached.manifest["digest"] == first.manifest["digest"]


def _first_train_file(source: dict) -> Path:
    return sorted((Path(source["source"]) / "train").rglob("*.JPEG"))[0]


@pytest.mark.parametrize("change", ["bytes_same_size_new_mtime", "new_inode_old_mtime", "size"])
def test_a_changed_source_file_is_read_again(tmp_path, task, source, reads, change):
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    first = task.subset(source["source"], source["manifests"], out, hidden, link="hardlink", options={})
    victim = _first_train_file(source)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # still a JPEG by its header and end marker
    before = victim.stat()
    if change == "bytes_same_size_new_mtime":  # edited in place: same inode, same size
        victim.write_bytes(bytes(data))
        os.utime(victim, ns=(HOUR_AGO + 10**9, HOUR_AGO + 10**9))
    elif change == "new_inode_old_mtime":  # replaced by another file, its mtime set back to the old one
        replacement = victim.with_suffix(".new")
        replacement.write_bytes(bytes(data))
        os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
        replacement.replace(victim)
    else:
        victim.write_bytes(bytes(data) + b"\0")
        os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert victim.stat().st_mtime_ns == before.st_mtime_ns or change == "bytes_same_size_new_mtime"

    reads.clear()
    again = task.subset(source["source"], source["manifests"], out, hidden, link="hardlink", options={})
    assert reads == [str(victim)]  # only the changed file, once
    assert not again.notes  # rebuilt, not reused
    entry = next(e for e in again.manifest["splits"]["train"] if e["path"].endswith(victim.name))
    assert (
        entry["sha256"]
        == sha256_file(victim)
        != next(e for e in first.manifest["splits"]["train"] if e["path"].endswith(victim.name))["sha256"]
    )
    assert again.manifest["digest"] == uncached_digest(out, again.manifest) != first.manifest["digest"]


def test_a_stale_entry_would_be_served_if_the_key_were_ignored(tmp_path):
    """The check itself: an entry for another stat is not served (shown by forging one)."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 100)
    os.utime(path, ns=(HOUR_AGO, HOUR_AGO))
    state = FileState(tmp_path / "state.sqlite")
    honest = scan([path], state=state)[0].sha256
    st = path.stat()
    state.remember([(st, "0" * 64, "none")], read_started_ns=time.time_ns())  # forged digest for this exact stat
    assert scan([path], state=state)[0].sha256 == "0" * 64  # served: the key matched
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(HOUR_AGO + 1, HOUR_AGO + 1))  # one nanosecond later
    assert scan([path], state=state)[0].sha256 == sha256_file(path) != honest


def test_files_written_just_now_are_not_cached(tmp_path, reads):
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"x" * 10)
    state = FileState(tmp_path / "state.sqlite")
    scan([path], state=state)
    scan([path], state=state)
    assert len(reads) == 2  # within RACY_NS of the read: an edit in the same timestamp tick would go unseen


def test_an_edited_subset_file_or_an_extra_file_means_a_rebuild(tmp_path, task, source, reads, monkeypatch):
    monkeypatch.setattr(filestate, "RACY_NS", 0)  # copies are new files: cache them at once
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    first = task.subset(source["source"], source["manifests"], out, hidden, link="copy", options={})
    assert "up to date" in task.subset(source["source"], source["manifests"], out, hidden, link="copy", options={}).notes[0]
    copied = sorted((out / "val").rglob("*.JPEG"))[0]
    copied.write_bytes(copied.read_bytes()[:-3] + b"\0\xff\xd9")
    os.utime(copied, ns=(HOUR_AGO, HOUR_AGO))
    again = task.subset(source["source"], source["manifests"], out, hidden, link="copy", options={})
    assert not again.notes and again.manifest["digest"] == first.manifest["digest"]
    (out / "train" / "stray.txt").write_text("x")
    again = task.subset(source["source"], source["manifests"], out, hidden, link="copy", options={})
    assert not again.notes and not (out / "train" / "stray.txt").exists()
    (hidden / "test_gt.csv").write_text("Image IDs,Labels\n")
    again = task.subset(source["source"], source["manifests"], out, hidden, link="copy", options={})
    assert not again.notes and len((hidden / "test_gt.csv").read_text().splitlines()) > 1
    assert read_manifest(out)["digest"] == first.manifest["digest"]
    assert "up to date" in task.subset(source["source"], source["manifests"], out, hidden, link="copy", options={}).notes[0]


def test_no_state_is_written_inside_the_dataset_and_a_corrupt_one_is_replaced(tmp_path, task, source):
    inside = Path(source["source"]) / "subset"
    with pytest.raises(UserError, match="inside the source dataset"):  # the driver refuses it first
        task.subset(source["source"], source["manifests"], inside, tmp_path / "hidden", link="copy", options={})
    with subset_state(inside, source["source"]) as state:  # and its state would not be kept there either
        scan(sorted(str(p) for p in Path(source["source"]).rglob("*.JPEG"))[:3], state=state)
    assert not state_path_for(inside).exists() and not inside.exists()
    out = tmp_path / "subset"
    state_path_for(out).write_bytes(b"not a database" * 100)
    result = task.subset(source["source"], source["manifests"], out, tmp_path / "hidden", link="hardlink", options={})
    assert (out / MANIFEST_NAME).is_file() and result.manifest["digest"]
    assert state_path_for(out).with_name(state_path_for(out).name + ".corrupt").is_file()


# --- the build record: a rerun stats the sources and the folders, and must still see every change ---


def _subset(task, source, out, hidden, link="hardlink", **options):
    return task.subset(source["source"], source["manifests"], out, hidden, link=link, options=options)


def _up_to_date(result) -> bool:
    return bool(result.notes) and "up to date" in result.notes[0]


def test_a_subset_file_replaced_by_another_inode_means_a_rebuild(tmp_path, task, source):
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    first = _subset(task, source, out, hidden)
    victim = sorted((out / "train").rglob("*.JPEG"))[0]
    before = victim.stat()
    replacement = victim.with_name("new.tmp")
    replacement.write_bytes(b"\xff\xd8\xff" + b"\0" * (before.st_size - 5) + b"\xff\xd9")  # same size, other bytes
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    replacement.replace(victim)
    folder = victim.parent
    os.utime(folder, ns=(HOUR_AGO, HOUR_AGO))  # even with the folder's mtime set back
    again = _subset(task, source, out, hidden)
    assert not _up_to_date(again) and again.manifest == first.manifest
    source_file = Path(source["source"]) / "train" / victim.parent.name / victim.name
    assert victim.stat().st_ino == source_file.stat().st_ino  # the hard link again


@pytest.mark.parametrize("where", ["class folder", "root", "new folder"])
def test_an_extra_entry_in_a_hardlinked_subset_means_a_rebuild(tmp_path, task, source, where):
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    first = _subset(task, source, out, hidden)
    assert _up_to_date(_subset(task, source, out, hidden))
    stray = {
        "class folder": sorted((out / "val").iterdir())[0] / "stray.JPEG",
        "root": out / "stray.txt",
        "new folder": out / "test" / "more",
    }[where]
    if where == "new folder":
        stray.mkdir()
    else:
        stray.write_bytes(b"x")
    again = _subset(task, source, out, hidden)
    assert not _up_to_date(again) and not stray.exists() and again.manifest == first.manifest


def test_a_missing_subset_file_means_a_rebuild(tmp_path, task, source):
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    first = _subset(task, source, out, hidden)
    victim = sorted((out / "test").rglob("*.JPEG"))[-1]
    victim.unlink()
    again = _subset(task, source, out, hidden)
    assert not _up_to_date(again) and victim.is_file() and again.manifest == first.manifest


def test_folder_keys_are_trusted_only_when_not_racy(tmp_path, task, source):
    """A folder changed in the same timestamp tick as the manifest was written (the subset's
    root: the manifest lands in it) is listed on the next run even if its mtime looks
    unchanged: an entry added in that tick after it was stated would not show in its mtime."""
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    _subset(task, source, out, hidden)
    assert out.stat().st_mtime_ns >= (out / MANIFEST_NAME).stat().st_mtime_ns  # racy by construction
    kept = out.stat()
    (out / "stray.txt").write_bytes(b"x")
    os.utime(out, ns=(kept.st_atime_ns, kept.st_mtime_ns))  # as if added within the same tick
    again = _subset(task, source, out, hidden)
    assert not _up_to_date(again) and not (out / "stray.txt").exists()

    folder = sorted((out / "train").iterdir())[0]  # written before the manifest: its key is trusted
    assert _up_to_date(_subset(task, source, out, hidden))
    (folder / "stray.JPEG").write_bytes(b"x")  # changes the folder's mtime
    assert not _up_to_date(_subset(task, source, out, hidden)) and not (folder / "stray.JPEG").exists()


def test_an_edited_manifest_file_means_a_rebuild(tmp_path, task, source):
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    first = _subset(task, source, out, hidden)
    path = out / MANIFEST_NAME
    text = path.read_text()
    entry = first.manifest["splits"]["train"][0]["sha256"]
    path.write_text(text.replace(entry, "0" * 64))
    again = _subset(task, source, out, hidden)
    assert not _up_to_date(again) and read_manifest(out) == first.manifest


@pytest.mark.parametrize("change", [{"link": "copy"}, {"verify": "full"}])
def test_other_options_mean_a_rebuild(tmp_path, task, source, change):
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    first = _subset(task, source, out, hidden)
    assert _up_to_date(_subset(task, source, out, hidden))
    again = _subset(task, source, out, hidden, **change)
    assert not _up_to_date(again) and again.manifest["digest"] == first.manifest["digest"]


def test_fresh_sources_vouch_for_nothing_until_they_are_older(tmp_path, task, reads):
    """Sources modified within RACY_NS of the build are read again on the next run (no inputs
    stamp is recorded), as the state does not keep their digests."""
    data = task.synthesize(
        tmp_path / "synthetic",
        seed=5,
        options={"classes": 2, "subset_per_class": 3, "extra_train_per_class": 0, "val_per_class": 2, "image_size": 32},
    )
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    task.subset(data["source"], data["manifests"], out, hidden, link="hardlink", options={})
    reads.clear()
    again = task.subset(data["source"], data["manifests"], out, hidden, link="hardlink", options={})
    assert reads and not _up_to_date(again)


def test_a_source_edited_while_it_was_read_is_read_again_on_the_next_run(tmp_path, task, source, monkeypatch):
    victim = str(_first_train_file(source))
    real = filestate._read

    def changing(path, level):
        result = real(path, level)
        if path == victim:  # edited between the stat and the end of the read
            os.utime(path, ns=(HOUR_AGO + 5, HOUR_AGO + 5))
        return result

    monkeypatch.setattr(filestate, "_read", changing)
    monkeypatch.setattr(filestate, "PARALLEL_FROM", 10**9)
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    _subset(task, source, out, hidden)
    with subset_state(out, source["source"]) as state:
        assert state.record(out) is not None
    monkeypatch.setattr(filestate, "_read", real)
    assert not _up_to_date(_subset(task, source, out, hidden))  # its stat is not the one the build saw
    assert _up_to_date(_subset(task, source, out, hidden))


def test_the_inputs_stamp_changes_with_every_input_and_is_withheld_for_racy_sources(tmp_path):
    from viprepro.tasks.subset_record import inputs_stamp
    from viprepro.tasks.subsetting import SubsetPlan, linked, taken, written

    files = []
    for name in ("a.bin", "b.bin", "m.json"):
        path = tmp_path / name
        path.write_bytes(name.encode())
        os.utime(path, ns=(HOUR_AGO, HOUR_AGO))
        files.append(str(path))

    def plan(**change):
        splits = {"train": [linked(files[0], "train/a.bin"), linked(files[1], "train/b.bin")], "test": [taken("test/m.json", files[2])]}
        fields = {"splits": splits, "hidden": [written("gt.csv", "id,label\n")], "extra": {"classes": ["x"]}, **change}
        return SubsetPlan(**fields)

    def stamp(decided=None, link="hardlink", verify="header", stats=None):
        decided = decided or plan()
        stats = stats or [os.stat(p.source) for p in decided.with_sources()]
        return inputs_stamp("classification", link, verify, decided, stats, time.time_ns())

    base = stamp()
    assert base == stamp()  # deterministic
    variants = {
        "rel": plan(
            splits={"train": [linked(files[0], "train/A.bin"), linked(files[1], "train/b.bin")], "test": [taken("test/m.json", files[2])]}
        ),
        "source": plan(
            splits={"train": [linked(files[1], "train/a.bin"), linked(files[1], "train/b.bin")], "test": [taken("test/m.json", files[2])]}
        ),
        "kind": plan(
            splits={
                "train": [linked(files[0], "train/a.bin"), linked(files[1], "train/b.bin")],
                "test": [taken("test/m.json", files[2], copy=True)],
            }
        ),
        "text": plan(hidden=[written("gt.csv", "id,label\n0,1\n")]),
        "extra": plan(extra={"classes": ["y"]}),
        "split name": plan(
            splits={"val": [linked(files[0], "train/a.bin"), linked(files[1], "train/b.bin")], "test": [taken("test/m.json", files[2])]}
        ),
    }
    stamps = {what: stamp(decided) for what, decided in variants.items()}
    stamps["link"], stamps["verify"] = stamp(link="copy"), stamp(verify="full")
    os.utime(files[1], ns=(HOUR_AGO + 1, HOUR_AGO + 1))
    stamps["mtime"] = stamp()
    assert base not in stamps.values() and len(set(stamps.values())) == len(stamps), stamps
    os.utime(files[1], ns=(time.time_ns(), time.time_ns()))  # modified just now: its stat vouches for nothing
    assert stamp() is None
    assert stamp(stats=[os.stat(files[0]), None, os.stat(files[2])]) is None  # a missing source


def test_a_source_replaced_after_it_was_read_is_hashed_as_placed(tmp_path, task, source, monkeypatch):
    """The manifest names the bytes placed: a link whose inode is not the one stated and read
    (the source was swapped in between) is stated and hashed itself."""
    victim = str(_first_train_file(source))
    real = filestate._read

    def swapping(path, level):
        result = real(path, level)
        if path == victim:
            data = bytearray(Path(path).read_bytes())
            data[len(data) // 2] ^= 0xFF
            before = os.stat(path)
            Path(path + ".new").write_bytes(bytes(data))
            os.utime(path + ".new", ns=(before.st_atime_ns, before.st_mtime_ns))
            os.replace(path + ".new", path)
        return result

    monkeypatch.setattr(filestate, "_read", swapping)
    monkeypatch.setattr(filestate, "PARALLEL_FROM", 10**9)
    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    result = _subset(task, source, out, hidden)
    entry = next(e for e in result.manifest["splits"]["train"] if e["path"].endswith(Path(victim).name))
    assert entry["sha256"] == sha256_file(out / entry["path"]) == sha256_file(victim)
    assert result.manifest["digest"] == uncached_digest(out, result.manifest)


def test_digests_across_read_sizes(tmp_path):
    """Small files are read in one short read, larger ones in chunks: every size hashes right."""
    sizes = [0, 1, filestate.FIRST_CHUNK - 1, filestate.FIRST_CHUNK, filestate.FIRST_CHUNK + 1, filestate.FIRST_CHUNK + filestate.CHUNK + 3]
    paths = []
    for size in sizes:
        path = tmp_path / f"{size}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(str(path))
    facts = scan(paths)
    assert [f.sha256 for f in facts] == [sha256_file(p) for p in paths] and [f.size for f in facts] == sizes


def test_a_rerun_that_listed_a_racy_folder_records_its_key(tmp_path, task, source, monkeypatch):
    from viprepro.tasks.subset_record import Record

    out, hidden = tmp_path / "subset", tmp_path / "hidden"
    _subset(task, source, out, hidden)
    with subset_state(out, source["source"]) as state:
        built = Record.load(state, out)
    assert built.outputs["folders"][""] is None  # the root changed with the manifest: racy
    monkeypatch.setattr(filestate, "RACY_NS", 0)  # as if the rerun came later
    assert _up_to_date(_subset(task, source, out, hidden))
    with subset_state(out, source["source"]) as state:
        renewed = Record.load(state, out)
    assert renewed.outputs["folders"][""] is not None and renewed.digests == built.digests and len(built.digests) > 0
