"""Mounts that containerd and the kubelet leave under a lab directory, and their removal."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

MNT_DETACH = 2  # linux/fs.h: lazy unmount, also when something still holds the mount busy

_libc = ctypes.CDLL(None, use_errno=True)


def under(directory: Path) -> list[Path]:
    """Mount points at or below `directory`, deepest first (the order to unmount them)."""
    found = []
    prefix = str(directory.resolve())
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            # Field 5 is the mount point, with spaces and the like escaped as octal.
            mount_point = line.split()[4].encode().decode("unicode_escape")
            if mount_point == prefix or mount_point.startswith(prefix + "/"):
                found.append(Path(mount_point))
    return sorted(found, key=lambda p: -len(p.parts))


def unmount(path: Path) -> bool:
    """Detaches one mount; False if it was not mounted any more."""
    if _libc.umount2(os.fsencode(path), MNT_DETACH) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOENT):
        return False
    raise OSError(code, f"umount {path}: {os.strerror(code)}")


def unmount_all(directory: Path) -> list[str]:
    """Unmounts everything below `directory` (stacked mounts too); returns what it removed."""
    removed = []
    while mounted := under(directory):
        progress = False
        for path in mounted:
            if unmount(path):
                removed.append(str(path))
                progress = True
        if not progress:
            break
    return removed
