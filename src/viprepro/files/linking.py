"""Place source files into a subset without copying bytes when the file system allows it.

Sources may be symbolic links: git-annex and DataLad keep every file of a dataset (ImageNet,
Cityscapes, UCF-101, ...) as a relative link into an object store. A hard link or a copy of the
link itself would dangle inside the subset (the relative target means nothing there), so every
mode places the file the link points to: a hard link to the target, a copy of its bytes, or a
symbolic link to its absolute real path. A link that points nowhere is refused, by name.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from viprepro.errors import UserError

LINK_MODES = ("hardlink", "symlink", "copy")


def real_file(source: str | Path) -> Path:
    """The regular file `source` stands for, symbolic links followed; a broken link is a UserError."""
    source = Path(source)
    if not source.is_symlink():
        if not source.is_file():
            raise UserError("not found or not a regular file", path=source)
        return source
    target = Path(os.path.realpath(source))
    if not target.is_file():
        raise UserError(
            f"broken symbolic link: points to {os.readlink(source)} ({target}), which "
            f"{'is not a regular file' if target.exists() else 'does not exist'}",
            path=source,
        )
    return target


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
        self.followed_links = 0

    def place(self, source: str | Path, target: str | Path, *, regular: bool = False) -> None:
        """Place `source` at `target`; `regular` says the caller has just seen that `source` is
        a regular file, not a link (what then happens to be placed is checked after placing)."""
        if not regular:
            try:  # one lstat answers the common case, a regular file (hundreds of thousands of them)
                regular = stat.S_ISREG(os.lstat(source).st_mode)
            except OSError:
                regular = False
        real = source if regular else real_file(source)
        if real is not source:
            self.followed_links += 1
        if self.mode == "hardlink":
            try:
                os.link(real, target, follow_symlinks=False)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                self.mode, self.fell_back = "copy", True
        if self.mode == "symlink":
            os.symlink(os.path.abspath(real), target)
            return
        shutil.copyfile(real, target)
