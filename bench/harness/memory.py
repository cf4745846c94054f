"""Resident memory of a server on this machine, read from /proc (Linux).

The server is the process that listens on the URL's port, so a `--cmd` that starts a shell or a launcher
still finds the real server, and a `--url` on loopback works too. Its children (impasto's worker and node
host processes) are summed separately: ComfyUI runs everything in one process, impasto does not, and the
fair comparison is the whole tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True, slots=True)
class Rss:
    server_mb: float
    tree_mb: float  # the server and every process below it


def listening_pid(port: int) -> int | None:
    """The pid of the process with a listening TCP socket on `port`, when it is ours to read."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(entry.name)
        except OSError:  # another user's process, or one that just ended
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def rss(pid: int) -> Rss | None:
    """The server's RSS and its process tree's, or None when the process is gone."""
    own = _rss_kb(pid)
    if own is None:
        return None
    children = _children()
    total, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _rss_kb(current) or 0
        stack.extend(children.get(current, ()))
    return Rss(own / 1024, total / 1024)


def _rss_kb(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return 0  # a zombie has no VmRSS line


def _children() -> dict[int, list[int]]:
    """parent pid → child pids, from /proc/<pid>/stat."""
    tree: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) is in parentheses and may contain spaces: split after its last ')'.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def available() -> bool:
    return (PROC / "net" / "tcp").exists()
