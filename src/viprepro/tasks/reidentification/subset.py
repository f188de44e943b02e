"""The official SynergyReID arrangement, cut out of the extracted raw zip.

The toolkit's loader (`reid/datasets/synergyreid.py`) reads `reid_training/` as the training
identities, `reid_val/{query,gallery}/` as the val split and `reid_test/{query,gallery}/` as
the numbered test images. The subset keeps that layout, so a participant's loader reads it
as it read the zip:

    out/reid_training/<pid>_<seq>_<frame>.jpeg        train (public, identities in the names)
    out/reid_val/{query,gallery}/<pid>_<seq>_<frame>.jpeg   val (public, identities in the names)
    out/reid_test/{query,gallery}/<n>.jpeg            test (public images, no identities)
    out/subset_manifest.json
    hidden/test_identities.csv                        the test images' identities (scoring only)

The test identities were never public: they come from the organisers' `test_identities.csv`
in the manifests folder (the synthetic generator writes one). The toolkit's own consistency
checks are kept as refusals: every val query identity has gallery images, and no val query
identity is a training identity. The source is only read.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from viprepro.errors import UserError
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.reidentification.layout import (
    FOLDERS,
    ROLES,
    TEST_IDENTITIES,
    TRAIN_DIR,
    data_root,
    listing,
    parse_number_name,
    parse_person_name,
    read_identities,
    table_text,
    test_order,
    val_order,
)
from viprepro.tasks.subsetting import SubsetPlan, cut, linked, refuse_unreadable, written

SHOWN = 20


def _person_ids(names: list[str], folder: Path) -> set[int]:
    return {parse_person_name(name, path=folder / name)[0] for name in names}


def _test_table(manifests: Path, root: Path) -> list[tuple[str, int, int, str]]:
    """The organisers' test identities, checked against the numbered test images."""
    path = Path(manifests) / TEST_IDENTITIES
    if not path.is_file():
        raise UserError(
            f"the test identities are not public: give the organisers' {TEST_IDENTITIES} (role,id,person_id,image) in the manifests folder",
            path=path,
        )
    table = read_identities(path)
    rows = []
    for role in ROLES:
        folder = root / FOLDERS[("test", role)]
        names = test_order(listing(folder), folder)
        listed = dict(zip(table.images[role], zip(table.ids[role], table.person_ids[role])))
        if len(listed) != len(table.images[role]):
            raise UserError(f"an image is listed twice among the {role} rows", path=path)
        unlisted = sorted(set(names) - set(listed))
        if unlisted:
            raise UserError(f"{len(unlisted)} test {role} image(s) have no identity, e.g. {unlisted[0]}", path=path)
        absent = sorted(set(listed) - set(names))
        if absent:
            raise UserError(f"{len(absent)} test {role} image(s) listed are not in {folder}, e.g. {absent[0]}", path=path)
        for name in names:
            header_id, person = listed[name]
            if header_id != parse_number_name(name, path=folder / name):
                raise UserError(f"the id of {name} must be its number, found {header_id}", path=path)
            rows.append((role, header_id, person, name))
    return rows


def plan(source: Path, manifests: Path) -> SubsetPlan:
    root = data_root(source)
    train = listing(root / TRAIN_DIR)
    train_ids = _person_ids(train, root / TRAIN_DIR)
    val = {}
    for role in ROLES:
        folder = root / FOLDERS[("val", role)]
        val[role] = val_order(listing(folder), folder)
    query_ids, gallery_ids = (_person_ids(val[r], root / FOLDERS[("val", r)]) for r in ROLES)
    if not query_ids <= gallery_ids:
        raise UserError(f"val query identities without gallery images: {sorted(query_ids - gallery_ids)[:SHOWN]}", path=root)
    if not train_ids.isdisjoint(query_ids):
        raise UserError(f"val query identities that are also training identities: {sorted(train_ids & query_ids)[:SHOWN]}", path=root)
    test_rows = _test_table(manifests, root)

    def placed(split: str, role: str, names: list[str]) -> list:
        folder = FOLDERS[(split, role)]
        return [linked(root / folder / name, f"{folder}/{name}") for name in names]

    return SubsetPlan(
        splits={
            "train": [linked(root / TRAIN_DIR / name, f"{TRAIN_DIR}/{name}") for name in train],
            "val": placed("val", "query", val["query"]) + placed("val", "gallery", val["gallery"]),
            "test": [p for role in ROLES for p in placed("test", role, [r[3] for r in test_rows if r[0] == role])],
        },
        hidden=[written(TEST_IDENTITIES, table_text(test_rows))],
        extra={
            "identities": {"train": len(train_ids), "val_query": len(query_ids), "val_gallery": len(gallery_ids)},
            "test_images": {role: sum(r[0] == role for r in test_rows) for role in ROLES},
        },
    )


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str, edition: str, commit: str) -> SubsetResult:
    def edition_plan(source: Path, manifests: Path) -> SubsetPlan:
        decided = plan(source, manifests)
        decided.extra.update({"edition": edition, "toolkit_commit": commit})
        return decided

    return cut(
        "reidentification",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=edition_plan,
        check=partial(refuse_unreadable, source=Path(source), shown=SHOWN),
        verify=verify,
    )
