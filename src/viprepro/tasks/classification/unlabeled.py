"""Classification's images without labels (pretext stages) and with pseudo-labels.

The subset keeps each image's label in its class folder (`train/<wnid>/<file>`): listing a
class folder, or opening any file in it, is reading the label of its images, so those folders
(and everything under them) are the task's label files. The unlabeled loader reads images
only through a path-opaque view the job built from the subset manifest (files named by
content digest, viprepro.training.image_view) and hands the model images only.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset, default_collate

from viprepro.files.subset_manifest import MANIFEST_NAME
from viprepro.tasks.base import Loaders
from viprepro.tasks.classification import data
from viprepro.tasks.classification.submission import class_names


def label_files(subset_dir: Path) -> list[Path]:
    """The class folders of train and val (their listings and every path under them name the labels),
    and the subset manifest, whose file list is those paths. (The listing of `train/` itself is the
    class names, which building the model reads; it says nothing about any image.)"""
    subset_dir = Path(subset_dir)
    folders = [subset_dir / split / wnid for split in ("train", "val") for wnid in class_names(subset_dir)]
    return [*folders, subset_dir / MANIFEST_NAME]


class UnlabeledImages(Dataset):
    """views(image) per file: a list of tensors, never a label."""

    def __init__(self, files: list[Path], views, *, cache: bool = False):
        self.files, self.views = files, views
        self.cache = [data.decode(f) for f in files] if cache else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        return self.views(self.cache[index] if self.cache is not None else data.decode(self.files[index]))


def unlabeled_loader(images, recipe, views, *, workers, generator, shuffle):
    """`images`: an ImageView. views None: the evaluation transform (one view), for labelling images
    with a trained model. The view's sampler reads in the manifest's order (shuffled or not)."""
    if views is None:
        transform = data.eval_transform(recipe)

        def views(image):
            return [transform(image)]

    dataset = UnlabeledImages(list(images.files), views, cache=recipe.get("cache_decoded", False))
    return data.make_loader(
        dataset,
        recipe,
        shuffle=False,
        sampler=images.sampler(shuffle=shuffle, generator=generator if shuffle else None),
        workers=workers,
        generator=generator if shuffle else None,
        drop_last=shuffle and len(dataset) > recipe["batch_size"],
        collate_fn=default_collate,
    )


def add_pseudo_labels(loaders: Loaders, images, recipe, pseudo: dict) -> Loaders:
    """The training loader's dataset plus the pseudo-labelled images of the view `images` (train-time transform)."""
    chosen = [images.file_of(i) for i in pseudo["indices"]]
    extra = data.ImageFiles(chosen, list(pseudo["labels"]), data.train_transform(recipe), cache=recipe.get("cache_decoded", False))
    train = loaders.train
    dataset = ConcatDataset([train.dataset, extra])
    loaders.train = data.make_loader(
        dataset,
        recipe,
        shuffle=True,
        workers=train.num_workers,
        generator=train.generator,
        drop_last=len(dataset) > recipe["batch_size"],
        collate_fn=train.collate_fn if train.collate_fn is not default_collate else None,
    )
    loaders.train_size = len(dataset)
    loaders.opened_files += [str(p) for p in chosen]
    return loaders


def probe_loaders(subset_dir, recipe, *, workers):
    """Labelled train and val images through the evaluation transform, in folder order."""
    classes = class_names(Path(subset_dir))
    cache = recipe.get("cache_decoded", False)
    loaders = []
    for split in ("train", "val"):
        files, labels = data.split_files(Path(subset_dir), split, classes)
        dataset = data.ImageFiles(files, labels, data.eval_transform(recipe), cache=cache)
        loaders.append(data.make_loader(dataset, recipe, shuffle=False, workers=workers))
    return tuple(loaders)
