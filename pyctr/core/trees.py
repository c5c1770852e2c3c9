"""``rm -rf`` for pyctr's own directories, without importing shutil.

shutil's import (bz2, lzma, a namedtuple class) costs about 5 ms, and every
``run --rm`` removes a layer and a container directory. This walks the tree
bottom-up with directory file descriptors (os.fwalk), so a symbolic link is
removed, never followed, and a directory swapped for a link mid-walk is not
entered. Errors are ignored, as ``shutil.rmtree(ignore_errors=True)``: what
stays is found by whoever checks (``system check``, the leak tests).
"""

from __future__ import annotations

import os
import stat


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and everything below it; a missing path is fine."""
    path = os.fspath(path)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
    except OSError:
        return
    for _root, dirs, files, fd in os.fwalk(path, topdown=False):
        for name in files:
            _unlink(name, fd)
        for name in dirs:  # a link to a directory is listed here too: unlinked, not entered
            try:
                os.rmdir(name, dir_fd=fd)
            except NotADirectoryError:
                _unlink(name, fd)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
