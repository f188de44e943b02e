"""Place source files into a subset without copying bytes when the file system allows it."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

LINK_MODES = ("hardlink", "symlink", "copy")


class Linker:
    """Links one file after another, falling back to a copy where hard links cannot be made.

    Hard links fail across devices and on some file systems; once that happens the linker
    remembers it and copies from then on instead of failing once per file.
    """

    def __init__(self, mode: str = "hardlink"):
        if mode not in LINK_MODES:
            raise ValueError(f"link mode must be one of {LINK_MODES}, not {mode!r}")
        self.requested = mode
        self.mode = mode
        self.fell_back = False

    def place(self, source: Path, target: Path) -> None:
        if self.mode == "hardlink":
            try:
                os.link(source, target)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                self.mode, self.fell_back = "copy", True
        if self.mode == "symlink":
            os.symlink(os.path.abspath(source), target)
            return
        shutil.copyfile(source, target)
