"""Example test predictions the scoring step draws: label colours over test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.report.examples import DEFAULT_COUNT, Example, rgb, spread


def _palette() -> np.ndarray:
    from viprepro.tasks.segmentation.labels import LABELS

    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in LABELS:
        palette[label.id] = label.color
    return palette


def overlay(image: np.ndarray, ids: np.ndarray, palette: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    colors = palette[np.clip(ids, 0, 255)]
    if colors.shape[:2] != image.shape[:2]:
        colors = np.asarray(Image.fromarray(colors).resize(image.shape[1::-1], Image.NEAREST))
    return (image * (1 - alpha) + colors * alpha).astype(np.uint8)


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    import io
    import zipfile

    from viprepro.tasks.segmentation.scoring import find_ground_truth, load_test_names
    from viprepro.tasks.segmentation.submission import list_predictions, pair

    pairs = find_ground_truth(Path(gt))
    names = load_test_names(Path(gt), {}) or {}
    number_of = {f"{name}_gtFine_labelIds.png": number for number, (_, name) in names.items()}
    predictions, _ = list_predictions(Path(submission), names or None, strict=False)
    matched, _ = pair([label for label, _ in pairs], predictions)
    usable = [label for label, _ in pairs if len(matched[label]) == 1 and label.name in number_of]
    palette = _palette()
    examples = []
    with zipfile.ZipFile(submission) as archive:
        for label in spread(usable, count // 2 or 1):
            image_path = Path(subset) / "leftImg8bit" / "test" / f"{number_of[label.name]}.png"
            image = rgb(image_path, max_side=384)
            predicted = label_ids(io.BytesIO(archive.read(matched[label][0].member)))
            truth = label_ids(label)
            hits = (predicted == truth)[truth > 0] if predicted.shape == truth.shape else np.array([])
            share = f", pixel accuracy {hits.mean():.2f}" if hits.size else ""
            examples.append(
                Example(
                    [image, overlay(image, predicted, palette), overlay(image, truth, palette)],
                    f"{image_path.name} ({label.name.split('_gtFine')[0]}){share}",
                    None,
                    ["test image", "predicted labels", "true labels"],
                )
            )
    return examples, "Cityscapes label colours over the test image; unlabelled pixels (id 0) are left dark"


def label_ids(source) -> np.ndarray:
    """A label-id PNG as stored (palette indices are the ids; never converted to grey levels)."""
    with Image.open(source) as png:
        ids = np.asarray(png)
    return ids[..., 0] if ids.ndim == 3 else ids
