"""Example test predictions of each task, and the (true, predicted) labels of a confusion matrix.

These read the hidden test ground truth, so only the scoring step calls them. Each reader
uses the task's own parsers (the same files the scorer read), picks a fixed, reproducible set
of samples (half wrong, half right when there are both, in test order) and returns
`figures.Example`s: the image with its predicted and true label, a segmentation overlay, an
image with its predicted and true boxes, a few frames of a clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .figures import Example

DEFAULT_COUNT = 8
CLIP_FRAMES = 4
BOX_SCORE = 0.3  # detection boxes below this score are not drawn
TRUE_COLOR, PRED_COLOR = (40, 200, 60), (255, 140, 0)


@dataclass
class Labels:
    """Top-1 labels of the test samples both files have, for the confusion matrix."""

    y_true: np.ndarray
    y_pred: np.ndarray
    names: list[str]


def pick(correct: list[bool], count: int) -> list[int]:
    """Indices to show: up to half wrong ones, the rest right ones, each in test order."""
    wrong = [i for i, ok in enumerate(correct) if not ok]
    right = [i for i, ok in enumerate(correct) if ok]
    n_wrong = min(len(wrong), max(count // 2, count - len(right)))
    chosen = _spread(wrong, n_wrong) + _spread(right, count - n_wrong)
    return sorted(chosen)


def _spread(items: list[int], count: int) -> list[int]:
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def _rgb(path: Path, max_side: int = 256) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        return np.asarray(image)


def _name(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else f"#{index}"


# --- classification -------------------------------------------------------------------------

def _classification_pairs(gt: Path, submission: Path, subset: Path) -> tuple[list[str], list[int], list[int], list[str]]:
    import pandas as pd

    from ..tasks.classification.submission import read_ground_truth
    from ..tasks.classification.subset import class_names

    truth = read_ground_truth(gt)
    table = pd.read_csv(submission, dtype=str).iloc[:, :2]  # by position, a repeated id keeps its last row
    predicted = {str(i).strip(): pd.to_numeric(p, errors="coerce") for i, p in zip(table.iloc[:, 0], table.iloc[:, 1])}
    ids = [i for i in truth if i in predicted and np.isfinite(predicted[i])]
    return ids, [truth[i] for i in ids], [int(predicted[i]) for i in ids], class_names(subset)


def classification_labels(gt: Path, submission: Path, subset: Path) -> Labels:
    _, y_true, y_pred, names = _classification_pairs(gt, submission, subset)
    return Labels(np.array(y_true), np.array(y_pred), names)


def classification_examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    ids, y_true, y_pred, names = _classification_pairs(gt, submission, subset)
    chosen = pick([t == p for t, p in zip(y_true, y_pred)], count)
    examples = [Example([_rgb(Path(subset) / "test" / "imgs" / ids[i])],
                        f"{ids[i]}\npred {_name(names, y_pred[i])}\ntrue {_name(names, y_true[i])}", y_true[i] == y_pred[i])
                for i in chosen]
    return examples, "green: predicted class is right, red: wrong"


# --- action recognition ---------------------------------------------------------------------

def _action_pairs(gt: Path, submission: Path, subset: Path) -> tuple[list[str], list[int], list[int], list[str]]:
    from ..tasks.action_recognition import scoring
    from ..tasks.action_recognition.annotations import read_labelled_clips
    from ..tasks.action_recognition.submission import read_official

    names = scoring.class_names(Path(gt), {})
    truth = read_labelled_clips(Path(gt), len(names))
    clips, rankings = read_official(Path(submission))
    top1 = {clip: ranking[0] for clip, ranking in zip(clips, rankings) if ranking}
    kept = [clip for clip in truth if clip in top1]
    return kept, [truth[c] - 1 for c in kept], [top1[c] - 1 for c in kept], names


def action_recognition_labels(gt: Path, submission: Path, subset: Path) -> Labels:
    _, y_true, y_pred, names = _action_pairs(gt, submission, subset)
    return Labels(np.array(y_true), np.array(y_pred), names)


def action_recognition_examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    from ..tasks.action_recognition import video_io

    clips, y_true, y_pred, names = _action_pairs(gt, submission, subset)
    examples = []
    for i in pick([t == p for t, p in zip(y_true, y_pred)], count):
        path = Path(subset) / "videos" / clips[i]
        total = video_io.probe(path).frames or CLIP_FRAMES
        wanted = sorted({int(f) for f in np.linspace(0, max(0, total - 1), CLIP_FRAMES).round()})
        frames = [_thumbnail(frame) for frame in video_io.decode(path, wanted)]
        examples.append(Example(frames, f"{clips[i]}: pred {_name(names, y_pred[i])}, true {_name(names, y_true[i])}",
                                y_true[i] == y_pred[i], [f"frame {f}" for f in wanted]))
    return examples, f"{CLIP_FRAMES} frames spread over each clip; green: top-1 prediction right, red: wrong"


def _thumbnail(frame: np.ndarray, max_side: int = 200) -> np.ndarray:
    image = Image.fromarray(frame)
    image.thumbnail((max_side, max_side))
    return np.asarray(image)


# --- segmentation ---------------------------------------------------------------------------

def _palette() -> np.ndarray:
    from ..tasks.segmentation.labels import LABELS

    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in LABELS:
        palette[label.id] = label.color
    return palette


def _overlay(image: np.ndarray, label_ids: np.ndarray, palette: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    colors = palette[np.clip(label_ids, 0, 255)]
    if colors.shape[:2] != image.shape[:2]:
        colors = np.asarray(Image.fromarray(colors).resize(image.shape[1::-1], Image.NEAREST))
    return (image * (1 - alpha) + colors * alpha).astype(np.uint8)


def segmentation_examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    import io
    import zipfile

    from ..tasks.segmentation.scoring import find_ground_truth, load_test_names
    from ..tasks.segmentation.submission import list_predictions, pair

    pairs = find_ground_truth(Path(gt))
    names = load_test_names(Path(gt), {}) or {}
    number_of = {f"{name}_gtFine_labelIds.png": number for number, (_, name) in names.items()}
    predictions, _ = list_predictions(Path(submission), names or None, strict=False)
    matched, _ = pair([label for label, _ in pairs], predictions)
    usable = [label for label, _ in pairs if len(matched[label]) == 1 and label.name in number_of]
    palette = _palette()
    examples = []
    with zipfile.ZipFile(submission) as archive:
        for label in _spread(usable, count // 2 or 1):
            image_path = Path(subset) / "leftImg8bit" / "test" / f"{number_of[label.name]}.png"
            image = _rgb(image_path, max_side=384)
            predicted = _label_ids(io.BytesIO(archive.read(matched[label][0].member)))
            truth = _label_ids(label)
            hits = (predicted == truth)[truth > 0] if predicted.shape == truth.shape else np.array([])
            share = f", pixel accuracy {hits.mean():.2f}" if hits.size else ""
            examples.append(Example([image, _overlay(image, predicted, palette), _overlay(image, truth, palette)],
                                    f"{image_path.name} ({label.name.split('_gtFine')[0]}){share}", None,
                                    ["test image", "predicted labels", "true labels"]))
    return examples, "Cityscapes label colours over the test image; unlabelled pixels (id 0) are left dark"


def _label_ids(source) -> np.ndarray:
    """A label-id PNG as stored (palette indices are the ids; never converted to grey levels)."""
    with Image.open(source) as png:
        ids = np.asarray(png)
    return ids[..., 0] if ids.ndim == 3 else ids


# --- detection ------------------------------------------------------------------------------

def detection_examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    from ..tasks.detection.manifests import (
        IMAGE_FOLDERS,
        annotation_path,
        read_instances,
    )
    from ..tasks.detection.submission import read_submission

    truth = read_instances(Path(gt))
    files = {image["id"]: image["file_name"] for image in read_instances(annotation_path(subset, "test"), annotations=False)["images"]}
    categories = {c["id"]: c["name"] for c in truth["categories"]}
    detections = read_submission(Path(submission))
    detections = detections if isinstance(detections, list) else []
    by_image: dict = {}
    for det in detections:
        if isinstance(det, dict) and det.get("score", 0) >= BOX_SCORE and len(det.get("bbox", [])) == 4:
            by_image.setdefault(det.get("image_id"), []).append(det)
    boxes: dict = {}
    for annotation in truth["annotations"]:
        boxes.setdefault(annotation["image_id"], []).append(annotation)
    ids = [image["id"] for image in truth["images"] if image["id"] in files]
    examples = []
    for image_id in _spread(ids, count):
        path = Path(subset) / IMAGE_FOLDERS["test"] / files[image_id]
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        draw = ImageDraw.Draw(image)
        for annotation in boxes.get(image_id, []):
            _box(draw, annotation["bbox"], TRUE_COLOR, categories.get(annotation["category_id"], "?"))
        shown = sorted(by_image.get(image_id, []), key=lambda d: -d["score"])[:20]
        for det in shown:
            _box(draw, det["bbox"], PRED_COLOR, f"{categories.get(det['category_id'], '?')} {det['score']:.2f}")
        image.thumbnail((320, 320))
        examples.append(Example([np.asarray(image)], f"image {image_id}: {len(boxes.get(image_id, []))} true, {len(shown)} predicted box(es)"))
    return examples, f"green: true boxes, orange: predicted boxes with score >= {BOX_SCORE} (at most 20 per image)"


def _box(draw: ImageDraw.ImageDraw, bbox: list[float], color: tuple, text: str) -> None:
    x, y, w, h = (float(v) for v in bbox)
    draw.rectangle([x, y, x + w, y + h], outline=color, width=2)
    draw.text((x + 2, y + 1), text, fill=color)


EXAMPLES = {
    "classification": classification_examples,
    "segmentation": segmentation_examples,
    "detection": detection_examples,
    "action_recognition": action_recognition_examples,
}
LABELS = {"classification": classification_labels, "action_recognition": action_recognition_labels}


def render(task: str, gt: Path, submission: Path, subset: Path, folder: Path, *, title: str = "") -> dict:
    """Write the figures that need the ground truth into `folder`; returns what was written.

    A figure that cannot be drawn (an unusual but scorable submission, say) does not fail the
    score: the reason is returned (and kept in figures.json) so the certificate can say so.
    """
    folder = Path(folder)
    jobs = {"examples": _draw_examples}
    if task in LABELS:
        jobs["confusion_matrix"] = _draw_confusion
    made: dict[str, dict] = {}
    for name, draw in jobs.items():
        out = folder / f"{name}.png"
        try:
            draw(task, Path(gt), Path(submission), Path(subset), out, title)
            made[name] = {"file": out.name}
        except Exception as exc:  # noqa: BLE001 - reported in figures.json and the certificate
            made[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return made


def _draw_examples(task: str, gt: Path, submission: Path, subset: Path, out: Path, title: str) -> None:
    from .figures import example_grid

    examples, note = EXAMPLES[task](gt, submission, subset)
    if not examples:
        raise ValueError("no test sample has both a prediction and a ground truth to show")
    example_grid(examples, out, title=f"Example test predictions{title}", note=note)


def _draw_confusion(task: str, gt: Path, submission: Path, subset: Path, out: Path, title: str) -> None:
    from .figures import confusion_counts, confusion_matrix

    labels = LABELS[task](gt, submission, subset)
    k = max(len(labels.names), int(labels.y_true.max(initial=-1)) + 1)
    names = labels.names + [f"#{i}" for i in range(len(labels.names), k)]
    accuracy = float((labels.y_true == labels.y_pred).mean()) if len(labels.y_true) else float("nan")
    confusion_matrix(confusion_counts(labels.y_true, labels.y_pred, k), names, out,
                     title=f"Confusion matrix{title}\ntop-1 {accuracy:.3f} over {len(labels.y_true)} test samples")
