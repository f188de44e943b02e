"""Benchmark the action-recognition training data loader against raw PyAV decoding.

    .venv/bin/python benchmarks/bench_action_recognition_data.py [--clips 24] [--size 240] [--frames 120] [--repeat 3]

Synthesises UCF-101-like clips (MPEG-4 AVI, 240x240 by default, close to UCF-101's 320x240,
120 frames = 4.8 s at 25 fps), then decodes the same clips three ways, one process each time
so that every figure has the machine's current load in it:

- raw: a bare PyAV loop, every frame to an RGB array through one reformatter per clip (the
  fastest way PyAV gives RGB frames: the floor any loader pays per decoded frame);
- loader: one epoch of the training DataLoader of the full-scale recipe (16 frames every 2nd,
  resize 128x171, random 112 crop, flip, normalise, batches of 8), workers=0, counting the
  frames it decodes (it stops at the end of the sampled clip and converts to RGB only the
  16 frames it uses);
- cached: the same loader with `cache_decoded` (the embedded default's setting), after the
  one-off decode of every clip.

Each figure is the best of --repeat passes (the machine may be shared). Prints decoded
frames per second of each and the loader/raw ratio (target >= 0.8).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import torch
from av.video.reformatter import VideoReformatter


def raw_decode(paths: list[Path]) -> tuple[int, float]:
    started, frames = time.perf_counter(), 0
    for path in paths:
        reformatter = VideoReformatter()
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                reformatter.reformat(frame, format="rgb24").to_ndarray()
                frames += 1
    return frames, time.perf_counter() - started


def loader_epochs(subset: Path, recipe: dict, epochs: int) -> tuple[list[tuple[int, int, float]], float]:
    """Per epoch (frames decoded, clip frames delivered, seconds), and the set-up seconds."""
    from viprepro.files.schemas_io import validate
    from viprepro.tasks.action_recognition import data

    validate(recipe, "recipe.action_recognition.schema.yaml")
    decoded = 0
    plain_decode = data.decode

    def counting_decode(path, frames=None):
        nonlocal decoded
        video = plain_decode(path, frames)
        decoded += len(video) if frames is None else frames[-1] + 1  # the codec decodes up to the last wanted frame
        return video

    data.decode = counting_decode
    started = time.perf_counter()
    train, _, _ = data.training_sets(subset, recipe)
    setup = time.perf_counter() - started
    loader = data.make_loader(train, recipe, shuffle=True, workers=0, generator=torch.Generator().manual_seed(0))
    results = []
    for _ in range(epochs):
        decoded, delivered, started = 0, 0, time.perf_counter()
        for clips, _ in loader:
            delivered += clips.shape[0] * clips.shape[2]
        results.append((decoded, delivered, time.perf_counter() - started))
    data.decode = plain_decode
    return results, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="clips in the train split")
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the loader's transforms)")
    parser.add_argument("--repeat", type=int, default=3, help="passes per measurement; the best counts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from viprepro.tasks import get_task

    task = get_task("action_recognition")
    classes, train_groups = 2, 4  # half of trainlist01 (classes x train_groups x per_group) goes to train
    per_group = max(1, 2 * args.clips // (classes * train_groups))
    options = {
        "num_classes": classes,
        "groups": train_groups + 1,
        "test_groups": 1,
        "clips_per_group": per_group,
        "frames": args.frames,
        "size": args.size,
        "fps": 25,
        "quality": 3,
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        made = task.synthesize(tmp / "synth", seed=0, options=options)
        task.subset(made["source"], made["manifests"], tmp / "subset", tmp / "hidden", link="hardlink", options={})
        print(f"synthesised and subset {options} in {time.perf_counter() - started:.1f} s")
        paths = sorted((tmp / "subset" / "videos").glob("video_train_*.avi"))
        recipe = {
            "epochs": 1,
            "batch_size": 8,
            "optimizer": {"name": "sgd", "lr": 0.1},
            "frames_per_clip": 16,
            "frame_stride": 2,
            "resize": [128, 171],
            "crop_size": 112,
            "hflip": True,
        }
        raw_decode(paths[:2])  # warm-up: imports, file cache
        raw_frames, raw_seconds = min((raw_decode(paths) for _ in range(args.repeat)), key=lambda r: r[1])
        raw_fps = raw_frames / raw_seconds
        print(f"best of {args.repeat} passes over {len(paths)} training clips (torch threads: {args.threads})")
        print(f"raw PyAV decode:   {raw_frames} frames in {raw_seconds:.2f} s = {raw_fps:7.1f} frames/s")
        epochs, setup = loader_epochs(tmp / "subset", dict(recipe), args.repeat)
        decoded, delivered, seconds = max(epochs, key=lambda e: e[0] / e[2])
        decoded_rate = decoded / seconds
        print(
            f"loader, workers=0: {decoded} frames decoded in {seconds:.2f} s = {decoded / seconds:7.1f} frames/s "
            f"(ratio to raw {decoded / seconds / raw_fps:.2f}); {delivered} clip frames delivered = {delivered / seconds:7.1f}/s; "
            f"header check {setup:.2f} s"
        )
        epochs, setup = loader_epochs(tmp / "subset", {**recipe, "cache_decoded": True}, args.repeat)
        _, delivered, seconds = min(epochs, key=lambda e: e[2])
        print(
            f"loader, cached:    {delivered} clip frames delivered in {seconds:.2f} s = {delivered / seconds:7.1f}/s "
            f"(ratio to raw decode {delivered / seconds / raw_fps:.2f}); decoding the cache took {setup:.2f} s"
        )
        from benchlog import record

        record(
            f"action-recognition loader vs raw PyAV decoding ({len(paths)} clips, frames/s)",
            ours=decoded_rate,
            baseline=raw_fps,
            unit="frames/s",
            ratio=decoded_rate / raw_fps,
            target=">= 0.8x",
            met=decoded_rate / raw_fps >= 0.8,
        )


if __name__ == "__main__":
    main()
