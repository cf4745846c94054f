"""Files served from a folder: containment checks that also see through symbolic links."""

from __future__ import annotations

import os
from pathlib import Path

from impasto.server.errors import error

STATIC_ROUTE = "frontend_file"  # the name of the frontend's catch-all file route: never counts as an API route


def within(path: str | Path, root: str | Path) -> bool:
    """Whether `path` is `root` or lies below it (lexically: resolve links first where they matter)."""
    base = os.path.abspath(root)
    return os.path.commonpath((base, os.path.abspath(path))) == base


def contained_file(root: Path, relative: str) -> Path:
    """The file `relative` names under `root`; 403 when it, or a link on the way, leaves `root`; 404 if absent."""
    if "\0" in relative:
        raise error(400, "path must not contain a NUL byte")
    target = os.path.abspath(os.path.join(root, relative))
    if not within(target, root) or not within(os.path.realpath(target), os.path.realpath(root)):
        raise error(403, "path is outside the served folder")
    if not os.path.isfile(target):
        raise error(404, "file not found")
    return Path(target)
