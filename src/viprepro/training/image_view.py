"""Path-opaque views of a split's images, for stages that must not learn labels from paths.

A classification subset keeps each image's label in its path (`train/<wnid>/<file>`), so a
loader handed those paths could read the labels a pretext stage withholds. A stage that
trains with labels withheld (pretext), or that labels images itself (pseudo-label inference),
therefore receives its images through a view: a folder of hard links (copies where the file
system refuses links) named by each image's content digest, built by the job from the subset
manifest before training starts. No path in the view names a class, and the view lists its
files in digest order, not the manifest's (whose class folders sort the images by class).

Reading through a view changes nothing the model sees: `sampler` draws exactly the indices a
DataLoader over the manifest order would draw (shuffled with the same generator, or in
order) and maps them to view positions, so the batches -- images, order, tensors -- are
bit-identical to reading the split folders. The file-access audit records the view's paths;
`sources` maps them back to the subset files they link, so the split, bytes-read and
label-withheld audits keep working on manifest paths (viprepro.training.record).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import RandomSampler, Sampler, SequentialSampler


@dataclass(frozen=True)
class ImageView:
    split: str
    folder: Path
    files: tuple[Path, ...]  # in view (digest) order
    positions: tuple[int, ...]  # manifest index -> view position
    sha256: tuple[str, ...]  # manifest index -> the image's digest (what a pseudo-label file names)
    sources: dict[str, str]  # absolute view path -> absolute subset path

    def __len__(self) -> int:
        return len(self.files)

    def file_of(self, index: int) -> Path:
        """The view file of the manifest's `index`-th image of the split."""
        return self.files[self.positions[index]]

    def sampler(self, *, shuffle: bool, generator=None) -> Sampler:
        """View positions in the order a DataLoader over the manifest order would read the images."""
        indices = range(len(self.files))
        base = RandomSampler(indices, generator=generator) if shuffle else SequentialSampler(indices)
        return _Mapped(base, self.positions)


class _Mapped(Sampler):
    """`base`'s indices (same draws from the same generator) mapped to view positions."""

    def __init__(self, base: Sampler, positions: tuple[int, ...]):
        self.base, self.positions = base, positions

    def __len__(self) -> int:
        return len(self.base)

    def __iter__(self):
        return (self.positions[index] for index in self.base)


def build_view(subset_dir: Path, manifest: dict, split: str, folder: Path, *, built: bool = False) -> ImageView:
    """Link the split's images into `folder` (emptied first) as `<sha256><suffix>`.

    `built`: another process of the job (rank 0 of a distributed member) has just built this
    folder: describe it without touching it."""
    subset_dir, folder = Path(subset_dir), Path(folder)
    entries = manifest["splits"].get(split, [])
    if not built:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    order = sorted(range(len(entries)), key=lambda index: (entries[index]["sha256"], index))
    files, positions, sources = [], [0] * len(entries), {}
    for position, index in enumerate(order):
        entry = entries[index]
        target = folder / f"{entry['sha256']}{Path(entry['path']).suffix.lower()}"
        source = subset_dir / entry["path"]
        if os.path.abspath(target) not in sources:  # two images with the same bytes share one file
            if not built:
                _link(source, target)
            sources[os.path.abspath(target)] = os.path.abspath(source)
        files.append(target)
        positions[index] = position
    return ImageView(split, folder, tuple(files), tuple(positions), tuple(e["sha256"] for e in entries), sources)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links refused: the same bytes under the opaque name
        shutil.copyfile(source, target)


def translate(opened: dict[str, dict], views) -> dict[str, dict]:
    """The opened paths with each view file replaced by the subset file it links (what the audits read)."""
    sources = {path: source for view in views for path, source in view.sources.items()}
    translated: dict[str, dict] = {}
    for path, seen in opened.items():
        real = sources.get(path, path)
        if real in translated and "sha256" in translated[real]:
            continue
        translated[real] = seen
    return translated
