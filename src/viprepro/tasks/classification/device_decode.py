"""JPEG decoding on the training device (recipe `gpu_decode`), for ImageNet-scale classification.

At ImageNet scale the data-loader workers spend most of their time decoding JPEGs. With
`gpu_decode` the workers only read the files' bytes; the training process decodes each batch
with `torchvision.io.decode_jpeg(..., device=<training device>)` (nvJPEG on CUDA) and runs
the training transform there, per image, before batch mixing. A file nvJPEG cannot decode
(ImageNet holds a few CMYK JPEGs and one PNG named .JPEG) is decoded by Pillow instead.
Validation and test prediction keep the CPU path.

On the CPU the same code decodes with libjpeg (that is what the tests exercise: no GPU
here); the speed-up exists only on CUDA. Decoded pixels may differ from Pillow's in the
last bit (another IDCT), so a `gpu_decode` run is its own chain: its weights are not those
of a Pillow-decoded run. torchvision's image decoders are deprecated since 0.29 in favour of
TorchCodec; decode_jpeg is what this uses until TorchCodec's decoder replaces it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from viprepro.tasks.classification import data


@dataclass
class EncodedBatch:
    """A batch as read from disk: each file's bytes, its path and the labels."""

    encoded: list[torch.Tensor]
    paths: list[str]
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.encoded)


class EncodedFiles(Dataset):
    """(bytes as a uint8 tensor, path, label): the workers read, they do not decode."""

    def __init__(self, files: list[Path], labels: list[int]):
        self.files, self.labels = files, labels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        path = self.files[index]
        return torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8), str(path), self.labels[index]


def collate(samples) -> EncodedBatch:
    encoded, paths, labels = zip(*samples)
    return EncodedBatch(list(encoded), list(paths), torch.tensor(labels))


def decode_batch(batch: EncodedBatch, device: torch.device) -> list[torch.Tensor]:
    """RGB uint8 CxHxW images on `device`; files decode_jpeg refuses go through Pillow."""
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 deprecates its decoders (module docstring)
        try:
            return decode_jpeg(batch.encoded, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            images = []
            for encoded, path in zip(batch.encoded, batch.paths):
                try:
                    images.append(decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device))
                except RuntimeError:
                    images.append(data.decode(Path(path)).to(device))
            return images


class DeviceTransform:
    """Decode an EncodedBatch on the device, apply the training transform per image, stack, mix."""

    def __init__(self, recipe: dict, mixer=None):
        self.transform = data.train_transform(recipe)
        self.mixer = mixer

    def __call__(self, batch: EncodedBatch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([self.transform(image) for image in decode_batch(batch, device)])
        labels = batch.labels.to(device, non_blocking=True)
        return self.mixer(images, labels) if self.mixer is not None else (images, labels)


def training_set(subset_dir: Path, recipe: dict) -> tuple[Dataset, list[Path]]:
    """The training splits as encoded files (the transform runs later, on the device)."""
    from torch.utils.data import ConcatDataset

    classes = data.class_names(subset_dir)
    parts, opened = [], []
    for split in recipe.get("train_splits", ["train"]):
        files, labels = data.split_files(subset_dir, split, classes)
        parts.append(EncodedFiles(files, labels))
        opened += files
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), opened
