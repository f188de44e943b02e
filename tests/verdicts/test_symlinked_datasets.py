"""Datasets kept as relative symbolic links (git-annex, DataLad) give the subset a plain tree gives."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from viprepro.errors import UserError
from viprepro.files.linking import LINK_MODES
from viprepro.files.subset_manifest import read_manifest
from viprepro.tasks import get_task

CASES = {
    "classification": {"classes": 2, "subset_per_class": 3, "extra_train_per_class": 1, "val_per_class": 2, "image_size": 20},
    "action_recognition": {
        "num_classes": 4,
        "groups": 3,
        "test_groups": 1,
        "clips_per_group": 2,
        "frames": 12,
        "size": 16,
        "fps": 25,
        "quality": 3,
    },
}


def annex(tree: Path) -> int:
    """Turn every file under `tree` into a relative link into tree/.git/annex/objects, as git-annex does."""
    store = tree / ".git" / "annex" / "objects"
    count = 0
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and ".git" not in p.relative_to(tree).parts):
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        obj = store / key[:2] / key / path.name
        obj.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, obj)
        path.symlink_to(os.path.relpath(obj, path.parent))
        count += 1
    return count


@pytest.fixture(scope="module", params=sorted(CASES))
def sources(request, tmp_path_factory):
    task = get_task(request.param)
    root = tmp_path_factory.mktemp(request.param)
    made = task.synthesize(root / "plain", seed=0, options=dict(CASES[request.param]))
    annexed = root / "annexed"
    shutil.copytree(root / "plain", annexed, symlinks=True)
    assert annex(annexed / Path(made["source"]).relative_to(root / "plain")) > 10
    return task, root, made, annexed


def relocate(made: dict, root: Path, new_root: Path) -> dict:
    return {k: new_root / Path(made[k]).relative_to(root / "plain") for k in ("source", "manifests")}


@pytest.mark.parametrize("mode", LINK_MODES)
def test_a_symlinked_tree_gives_the_subset_of_a_plain_tree(sources, tmp_path, mode):
    task, root, made, annexed = sources
    plain = task.subset(made["source"], made["manifests"], tmp_path / "plain", tmp_path / "plain.hidden", link=mode, options={})
    linked_paths = relocate(made, root, annexed)
    linked = task.subset(
        linked_paths["source"], linked_paths["manifests"], tmp_path / "linked", tmp_path / "linked.hidden", link=mode, options={}
    )
    assert read_manifest(linked.subset_dir)["digest"] == read_manifest(plain.subset_dir)["digest"]
    assert linked.manifest["splits"] == plain.manifest["splits"]
    for path in (tmp_path / "linked").rglob("*"):
        assert path.exists(), f"dangling link in the subset: {path}"  # exists() follows links
        if path.is_symlink():
            assert os.path.isabs(os.readlink(path)) and ".git/annex/objects" in os.readlink(path)  # the real file, not the link
    if mode == "hardlink":
        assert not any(p.is_symlink() for p in (tmp_path / "linked").rglob("*"))


def test_a_broken_link_is_refused_by_name(sources, tmp_path):
    task, root, made, annexed = sources
    broken_root = tmp_path / "broken"
    shutil.copytree(annexed, broken_root, symlinks=True)
    paths = relocate(made, root, broken_root)
    victim = sorted(p for p in paths["source"].rglob("*") if p.is_symlink() and p.suffix.lower() in (".jpeg", ".avi"))[0]
    os.unlink(os.path.realpath(victim))  # the annexed object is missing (not fetched)
    with pytest.raises(UserError) as raised:
        task.subset(paths["source"], paths["manifests"], tmp_path / "subset", tmp_path / "hidden", link="hardlink", options={})
    message = raised.value.message
    assert str(victim) in message  # named by the task's own source check (it lists every missing file)
    assert not (tmp_path / "subset").exists()  # nothing partial left behind


@pytest.mark.parametrize("mode", LINK_MODES)
def test_the_linker_places_the_target_and_refuses_a_broken_link_in_one_line(tmp_path, mode):
    from viprepro.files.linking import Linker

    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "object").write_bytes(b"pixels")
    (tmp_path / "dataset").mkdir()
    link = tmp_path / "dataset" / "image.jpg"
    link.symlink_to("../store/object")
    (tmp_path / "subset").mkdir()
    linker = Linker(mode)
    linker.place(link, tmp_path / "subset" / "image.jpg")
    assert (tmp_path / "subset" / "image.jpg").read_bytes() == b"pixels" and linker.followed_links == 1
    broken = tmp_path / "dataset" / "gone.jpg"
    broken.symlink_to("../store/not-fetched")
    with pytest.raises(UserError) as raised:
        linker.place(broken, tmp_path / "subset" / "gone.jpg")
    assert raised.value.message.startswith(f"{broken}: broken symbolic link: points to ../store/not-fetched")
    assert "\n" not in raised.value.message and not (tmp_path / "subset" / "gone.jpg").exists()
