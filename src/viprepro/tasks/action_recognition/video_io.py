"""Reading and writing AVI (and MP4) clips with PyAV (FFmpeg bundled in the wheel, no system package).

UCF-101 ships MPEG-4 Part 2 (Xvid) in AVI; the synthetic set is written the same way. Every
failure to read a clip becomes a UserError naming it, so a corrupt clip is reported by name
instead of surfacing as an FFmpeg error code in the middle of an epoch.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from viprepro.errors import UserError


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    height: int
    width: int


def write_avi(path: Path, frames: np.ndarray, *, fps: int, quality: int) -> None:
    """Encode T x H x W x 3 uint8 frames as MPEG-4 (fourcc XVID) in AVI, deterministically."""
    write_video(path, frames, fps=fps, quality=quality, container_format="avi", codec_tag="XVID")


def write_video(path: Path, frames: np.ndarray, *, fps: int, quality: int, container_format: str, codec_tag: str | None = None) -> None:
    """Encode T x H x W x 3 uint8 frames as MPEG-4 Part 2 in `container_format` (`avi`, `mp4`).

    `quality` is the encoder's fixed quantiser (2 best .. 31 worst); one encoder thread so
    the bytes depend on the frames only.
    """
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("mpeg4", rate=fps)
        if codec_tag:
            stream.codec_context.codec_tag = codec_tag
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.thread_count = 1
        stream.codec_context.qscale = True  # a fixed quantiser, not rate control
        stream.codec_context.global_quality = quality
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@contextlib.contextmanager
def _open(path: Path):
    """The container, read through a Python file object so that the training job's
    file-access audit (a Python audit hook) sees every clip it reads."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise UserError("video not found", path=path) from None
    with fh:
        try:
            container = av.open(fh)
        except (av.FFmpegError, OSError) as exc:
            raise UserError(f"cannot open video ({_reason(exc)})", path=path) from None
        with container:
            yield container


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise UserError("no video stream", path=path)
    return container.streams.video[0]


def riff_problem(path: Path) -> str | None:
    """A truncated AVI declares more bytes in its RIFF header than the file holds."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        size = fh.seek(0, 2)
    if size == 0:
        return "empty file (0 bytes)"
    if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        declared = struct.unpack("<I", head[4:8])[0] + 8
        if declared > size:
            return f"truncated AVI: the RIFF header declares {declared} bytes, the file has {size}"
    return None


def probe(path: Path) -> VideoInfo:
    """Frame count and size from the container header, without decoding."""
    path = Path(path)
    if path.is_file() and (problem := riff_problem(path)):
        raise UserError(problem, path=path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        return VideoInfo(frames=stream.frames, height=stream.height, width=stream.width)


def decode(path: Path, frames: list[int] | None = None) -> np.ndarray:
    """The frames with the given sorted indices (all when None) as T x H x W x 3 uint8 RGB.

    Decoding stops after the last wanted frame and only wanted frames are converted to RGB,
    by one reformatter per video (`frame.to_ndarray(format=...)` sets up a new converter for
    every frame, which costs more than decoding the frame). Fewer frames come back when the
    video ends early.
    """
    path = Path(path)
    wanted = None if frames is None else set(frames)
    stop = None if frames is None else frames[-1] + 1
    out = []
    reformatter = VideoReformatter()
    with _open(path) as container:
        stream = _video_stream(container, path)
        index = 0
        try:
            for frame in container.decode(stream):
                if wanted is None or index in wanted:
                    out.append(reformatter.reformat(frame, format="rgb24").to_ndarray())
                index += 1
                if index == stop:
                    break
        except (av.FFmpegError, OSError) as exc:
            raise UserError(f"cannot decode frame {index} ({_reason(exc)})", path=path) from None
    if not out:
        raise UserError("no decodable frame", path=path)
    return np.stack(out)
