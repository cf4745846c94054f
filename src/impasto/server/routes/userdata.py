"""User data files: GET /userdata, GET/POST/DELETE /userdata/{file}, moves, GET /v2/userdata (http-api.md §6.3).

Every path is confined to `<user dir>/default/`: a name that leaves it, textually or through a symbolic link,
is refused before anything is read or written.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from impasto.server.errors import error
from impasto.server.keys import SETTINGS
from impasto.server.routes.files import ACTIVE_TYPES
from impasto.server.routes.users import user_root, write_atomic
from impasto.server.routing import add_routes
from impasto.server.static import within

routes = web.RouteTableDef()

_CHUNK = 64 * 1024


def setup(app: web.Application) -> None:
    add_routes(app, routes)


def resolve(root: Path, name: str, *, escape_status: int = 403) -> Path:
    """The absolute path `name` names under `root`, `%`-encoded names unquoted.

    Raises:
        ApiError: 400 for a NUL or a backslash; `escape_status` when the path, or what a link in it points
            to, is outside `root`.
    """
    if "%" in name:
        name = unquote(name)
    # Backslashes are separators on Windows, so a name with one means something else there (deviation).
    if "\0" in name or "\\" in name:
        raise error(400, "invalid character in path")
    target = os.path.abspath(os.path.join(root, name))
    if not within(target, root) or not within(os.path.realpath(target), os.path.realpath(root)):
        raise error(escape_status, "path is outside the user directory")
    return Path(target)


def file_info(path: Path, relative_to: Path) -> dict[str, Any]:
    st = path.stat()
    return {
        "path": _relative(path, relative_to),
        "size": st.st_size,
        "modified": st.st_mtime,
        "created": st.st_ctime,
    }


def _relative(path: Path | str, root: Path | str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _flag(request: web.Request, name: str, default: str = "") -> bool:
    return request.query.get(name, default).lower() == "true"


def _overwrite(request: web.Request) -> bool:
    return request.query.get("overwrite", "true") != "false"


def _user_root(request: web.Request) -> Path:
    return user_root(request.app[SETTINGS])


def _inside_files(directory: Path, recurse: bool, real_root: str) -> Iterator[Path]:
    """Non-hidden files below `directory` (all levels with `recurse`), leaving out links that point outside."""
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        # Hidden names are skipped, as ComfyUI's glob listing skips them.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recurse else []
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not name.startswith(".") and os.path.isfile(path) and within(os.path.realpath(path), real_root):
                yield Path(path)


def _list(root: Path, directory: str, recurse: bool, full_info: bool, split: bool) -> list[Any]:
    path = resolve(root, directory)
    if not path.is_dir():
        raise error(404, "directory not found")
    out: list[Any] = []
    for file in _inside_files(path, recurse, os.path.realpath(root)):
        if full_info:
            out.append(file_info(file, path))
            continue
        relative = _relative(file, path)
        out.append([relative, *relative.split("/")] if split else relative)
    return out


@routes.get("/userdata")
async def list_userdata(request: web.Request) -> web.Response:
    directory = request.query.get("dir", "")
    if not directory:
        return web.Response(status=400, text="Directory not provided")
    args = (_flag(request, "recurse"), _flag(request, "full_info"), _flag(request, "split"))
    return web.json_response(await asyncio.to_thread(_list, _user_root(request), directory, *args))


def _existing_file(root: Path, name: str) -> Path:
    path = resolve(root, name)
    if not path.is_file():
        raise error(404, "file not found")
    return path


@routes.get("/userdata/{file}")
async def get_userdata(request: web.Request) -> web.StreamResponse:
    path = await asyncio.to_thread(_existing_file, _user_root(request), request.match_info["file"])
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # CSS stays CSS: the frontend's index.html links api/userdata/user.css as a stylesheet.
    if content_type in ACTIVE_TYPES and content_type != "text/css":
        content_type = "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": content_type, "X-Content-Type-Options": "nosniff"})


async def _read_body(request: web.Request) -> bytes:
    """The raw body, at most `max_upload_bytes` long (413 beyond)."""
    limit = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise error(413, f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise error(413, f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(path: Path, root: Path, full_info: bool) -> Any:
    return file_info(path, root) if full_info else _relative(path, root)


def _write(root: Path, name: str, body: bytes, overwrite: bool, full_info: bool) -> Any:
    path = resolve(root, name)
    if not overwrite and os.path.lexists(path):
        raise error(409, "file already exists")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, body)
    except OSError as exc:
        raise error(400, 'Invalid filename. Please avoid special characters like :\\/*?"<>|', details=str(exc)) from exc
    return _answer(path, root, full_info)


@routes.post("/userdata/{file}")
async def post_userdata(request: web.Request) -> web.Response:
    body = await _read_body(request)
    args = (_overwrite(request), _flag(request, "full_info", "false"))
    result = await asyncio.to_thread(_write, _user_root(request), request.match_info["file"], body, *args)
    return web.json_response(result)


def _delete(root: Path, name: str) -> None:
    _existing_file(root, name).unlink()


@routes.delete("/userdata/{file}")
async def delete_userdata(request: web.Request) -> web.Response:
    await asyncio.to_thread(_delete, _user_root(request), request.match_info["file"])
    return web.Response(status=204)


def _move(root: Path, name: str, dest_name: str, overwrite: bool, full_info: bool) -> Any:
    source = _existing_file(root, name)
    dest = resolve(root, dest_name)
    if dest.is_dir():
        # shutil.move would put the file inside the directory, which is not what the client asked for.
        raise error(409, "destination is a directory")
    if not overwrite and os.path.lexists(dest):
        raise error(409, "file already exists")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, dest)
    except OSError as exc:
        raise error(400, "cannot move the file", details=str(exc)) from exc
    return _answer(dest, root, full_info)


@routes.post("/userdata/{file}/move/{dest}")
async def move_userdata(request: web.Request) -> web.Response:
    names = (request.match_info["file"], request.match_info["dest"])
    args = (_overwrite(request), _flag(request, "full_info", "false"))
    return web.json_response(await asyncio.to_thread(_move, _user_root(request), *names, *args))


def _entry(path: str, name: str, root: Path, is_dir: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "path": _relative(path, root), "type": "directory" if is_dir else "file"}
    if not is_dir:
        try:
            st = os.stat(path)
        except OSError:
            return entry  # listed with what is known, as a file that vanished mid-walk has no stat
        entry["size"] = st.st_size
        entry["modified"] = st.st_mtime
    return entry


def _list_v2(root: Path, requested: str) -> list[dict[str, Any]]:
    target = resolve(root, requested, escape_status=400) if requested else root
    if not target.exists():
        if target == root:
            return []
        raise error(404, "requested path not found")
    if not target.is_dir():
        raise error(400, "requested path is not a directory")
    real_root = os.path.realpath(root)
    results: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(target, followlinks=False):
        for name, is_dir in [*((d, True) for d in dirnames), *((f, False) for f in filenames)]:
            path = os.path.join(dirpath, name)
            if within(os.path.realpath(path), real_root):
                results.append(_entry(path, name, root, is_dir))
    results.sort(key=lambda e: (e["type"] != "directory", e["name"].lower()))
    return results


@routes.get("/v2/userdata")
async def list_userdata_v2(request: web.Request) -> web.Response:
    requested = request.query.get("path", "")
    return web.json_response(await asyncio.to_thread(_list_v2, _user_root(request), requested))
