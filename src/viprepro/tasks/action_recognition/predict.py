"""Inference on the test (or val) split: class probabilities averaged over a video's clips and
the ensemble's members, then the five best labels per clip written in the official submission
format (a val submission names the clips of mod-ucf101-validation.txt)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from viprepro.tasks.action_recognition.annotations import SPLIT_FILES, read_clip_names, read_split_list
from viprepro.tasks.action_recognition.data import build_datasets, make_loader, model_input
from viprepro.tasks.action_recognition.scoring import TOPK, mean_class_accuracy, pseudo_predictions
from viprepro.tasks.action_recognition.submission import MAX_LABELS, write_submission


@torch.no_grad()
def video_probabilities(models: list[torch.nn.Module], loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(N x K probabilities, N labels) for batches of B x clips x C x T x H x W."""
    probabilities, labels = [], []
    for clips, label in loader:
        batch, count = clips.shape[:2]
        flat = model_input(clips.flatten(0, 1), device)
        mean = sum(torch.softmax(model(flat).float(), dim=1).view(batch, count, -1).mean(1) for model in models) / len(models)
        probabilities.append(mean.cpu())
        labels.append(label)
    return torch.cat(probabilities), torch.cat(labels)


def ranked_labels(probabilities: torch.Tensor) -> np.ndarray:
    """The best min(5, K) labels (1-based), ties broken by the lower label."""
    order = torch.argsort(probabilities, dim=1, descending=True, stable=True)
    return (order[:, :MAX_LABELS] + 1).numpy()


def evaluate(model: torch.nn.Module, loader, device: torch.device) -> dict[str, float]:
    """Mean per-class top-1/3/5 accuracy on a labelled split, as the scorer computes it."""
    probabilities, labels = video_probabilities([model], loader, device)
    truth = labels.numpy() + 1
    ranked = np.zeros((len(truth), max(TOPK)), dtype=np.int64)
    top = ranked_labels(probabilities)
    ranked[:, : top.shape[1]] = top
    predicted = pseudo_predictions(truth, ranked)
    return {f"top{k}": mean_class_accuracy(truth, row, probabilities.shape[1])[0] for k, row in zip(TOPK, predicted)}


def split_clips(subset_dir: Path, split: str) -> list[str]:
    """The clip names of the test list, or of the (labelled) validation list, in file order."""
    if split == "test":
        return read_clip_names(Path(subset_dir) / "annotations" / SPLIT_FILES["test"])
    if split != "val":
        raise ValueError(f"no predictions for split {split!r}")
    return [clip for _, clip, _ in read_split_list(Path(subset_dir) / "annotations" / SPLIT_FILES["val"], labelled=True)]


def predict(
    models: list[torch.nn.Module], subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int, split: str = "test"
) -> dict:
    subset_dir = Path(subset_dir)
    names = split_clips(subset_dir, split)
    videos = subset_dir / "videos"
    return predict_videos(
        models, [videos / n for n in names], names, recipe, out, device=device, workers=workers, split=split, where=videos
    )


def predict_videos(
    models: list[torch.nn.Module],
    paths: list[Path],
    names: list[str],
    recipe: dict,
    out: Path,
    *,
    device: torch.device,
    workers: int,
    split: str,
    where: Path,
) -> dict:
    """Write the submission file `out` for the videos `paths`, one line `<name> c1 .. c5` each
    (the name as the submission format spells the video), and return the inference summary."""
    started = time.perf_counter()
    (dataset,) = build_datasets([(list(paths), [-1] * len(paths), False)], recipe, where=where)
    for model in models:
        model.eval()
    probabilities, _ = video_probabilities(models, make_loader(dataset, recipe, shuffle=False, workers=workers), device)
    write_submission(out, names, ranked_labels(probabilities))
    seconds = time.perf_counter() - started
    return {
        "split": split,
        "clips": len(names),
        "members": len(models),
        "clips_per_video": recipe["test_clips"],
        "seconds": seconds,
        "clips_per_s": len(names) / seconds,
    }
