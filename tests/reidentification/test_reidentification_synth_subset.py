"""The synthetic SynergyReID has the raw zip's layout; the subset is the toolkit's
arrangement with the test identities hidden; broken sources are refused, the source untouched."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from reidentification_helpers import TINY
from testutils import tree_digest

from viprepro.errors import UserError
from viprepro.tasks.reidentification.layout import read_identities


def test_synthetic_layout_and_names(reid):
    root = reid["source"] / "data_reid"
    train = sorted(p.name for p in (root / "reid_training").iterdir())
    assert len(train) == TINY["train_ids"] * TINY["frames"]
    assert all(len(name.removesuffix(".jpeg").split("_")) == 3 for name in train)  # <pid>_<seq>_<frame>.jpeg
    val_query = list((root / "reid_val" / "query").iterdir())
    val_gallery = list((root / "reid_val" / "gallery").iterdir())
    assert len(val_query) == TINY["val_ids"] and len(val_gallery) == TINY["val_ids"] * (TINY["frames"] - 1)
    assert all(p.name.endswith("_1.jpeg") for p in val_query)  # queries are the first frame
    assert all(p.stem.isdigit() for p in (root / "reid_test" / "query").iterdir())
    truth = read_identities(reid["manifests"] / "test_identities.csv")
    assert len(truth.ids["query"]) == TINY["test_ids"] and len(truth.ids["gallery"]) == TINY["test_ids"] * (TINY["frames"] - 1)
    train_ids = {int(name.split("_")[0]) for name in train}
    assert train_ids.isdisjoint(truth.person_ids["query"])


def test_subset_is_the_official_arrangement_with_identities_hidden(reid):
    subset = reid["subset"]
    manifest = json.loads((subset / "subset_manifest.json").read_text())
    assert manifest["edition"] == "2021" and manifest["toolkit_commit"] == "1d8b23703e17c14dab9899b986827dd01c583b59"
    assert {"train", "val", "test"} <= set(manifest["splits"])
    assert sorted(os.listdir(subset / "reid_test")) == ["gallery", "query"]
    assert not list(subset.rglob("*identities*"))  # the test identities are not public
    hidden_truth = read_identities(reid["gt"])
    assert hidden_truth.ids["query"] == sorted(hidden_truth.ids["query"])  # the official order: by number
    assert [f"{i}.jpeg" for i in hidden_truth.ids["gallery"]] == hidden_truth.images["gallery"]
    assert sorted(p.name for p in (subset / "reid_test" / "gallery").iterdir()) == sorted(hidden_truth.images["gallery"])


def test_val_ground_truth_uses_person_ids_in_the_official_order(task, reid, tmp_path):
    truth = read_identities(task.write_val_ground_truth(reid["subset"], tmp_path / "val_gt"))
    assert truth.ids["query"] == sorted(truth.ids["query"]) and truth.ids["gallery"] == sorted(truth.ids["gallery"])
    assert truth.ids == truth.person_ids


@pytest.fixture
def source_copy(reid, tmp_path):
    copy = tmp_path / "source"
    shutil.copytree(reid["source"], copy)
    return copy


def _subset(task, source, manifests, tmp_path, **options):
    return task.subset(source, manifests, tmp_path / "out", tmp_path / "hidden", link="hardlink", options=options)


def test_the_source_is_never_modified(task, reid, tmp_path, source_copy):
    before = tree_digest(source_copy)
    _subset(task, source_copy, reid["manifests"], tmp_path)
    assert tree_digest(source_copy) == before


def test_a_missing_image_is_refused(task, reid, tmp_path, source_copy):
    truth = read_identities(reid["manifests"] / "test_identities.csv")
    (source_copy / "data_reid" / "reid_test" / "gallery" / truth.images["gallery"][0]).unlink()
    with pytest.raises(UserError, match="test gallery image\\(s\\) listed are not in"):
        _subset(task, source_copy, reid["manifests"], tmp_path)
    assert not (tmp_path / "out").exists() and not (tmp_path / "hidden").exists()


def test_a_corrupt_image_is_refused(task, reid, tmp_path, source_copy):
    victim = sorted((source_copy / "data_reid" / "reid_training").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:40])
    with pytest.raises(UserError, match="corrupt or truncated") as refused:
        _subset(task, source_copy, reid["manifests"], tmp_path)
    assert victim.name in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_a_broken_symlink_is_refused(task, reid, tmp_path, source_copy):
    victim = sorted((source_copy / "data_reid" / "reid_val" / "gallery").iterdir())[0]
    victim.unlink()
    victim.symlink_to(tmp_path / "nowhere.jpeg")
    with pytest.raises(UserError, match="missing or unreadable") as refused:
        _subset(task, source_copy, reid["manifests"], tmp_path)
    assert victim.name in str(refused.value)


def test_missing_test_identities_are_refused_with_a_way_out(task, reid, tmp_path, source_copy):
    with pytest.raises(UserError, match="the test identities are not public"):
        _subset(task, source_copy, tmp_path / "no_manifests", tmp_path)


def test_a_val_query_identity_seen_in_training_is_refused(task, reid, tmp_path, source_copy):
    root = source_copy / "data_reid"
    query = sorted((root / "reid_val" / "query").iterdir())[0]
    shutil.copy(query, root / "reid_training" / query.name)
    with pytest.raises(UserError, match="val query identities that are also training identities"):
        _subset(task, source_copy, reid["manifests"], tmp_path)


def test_a_badly_named_file_is_refused_naming_it(task, reid, tmp_path, source_copy):
    (source_copy / "data_reid" / "reid_training" / "player.jpeg").write_bytes(b"x")
    with pytest.raises(UserError, match="'player.jpeg' is not <person id>_<sequence>_<frame>.jpeg"):
        _subset(task, source_copy, reid["manifests"], tmp_path)


def test_an_unknown_edition_is_refused(task, reid, tmp_path, source_copy):
    with pytest.raises(UserError, match="not 2023"):
        _subset(task, source_copy, reid["manifests"], tmp_path, edition="2023")
